env FROM_G; pid logs/g.pid; error_log stderr notice;
