pid logs/g.pid;
