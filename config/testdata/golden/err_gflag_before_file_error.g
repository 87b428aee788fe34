worker_processes x;
