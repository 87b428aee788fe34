events {}
