bogus;
