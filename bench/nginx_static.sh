#!/usr/bin/env bash
# nginx (worker_processes 1, sendfile on) serving BENCH_STATIC_DIR at /static/ on port $1.
set -euo pipefail
port=$1
dir=${BENCH_STATIC_DIR:?set BENCH_STATIC_DIR}
run=$(mktemp -d)
# nginx's worker drops to the file owner's user when started as root, so it can read
# the (mode 0700) temp directory like skitai does.
user=$(stat -c %U "$dir")
cat >"$run/nginx.conf" <<CONF
user $user;
worker_processes 1;
pid $run/nginx.pid;
error_log $run/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $run/body;
  proxy_temp_path $run/proxy;
  fastcgi_temp_path $run/fastcgi;
  uwsgi_temp_path $run/uwsgi;
  scgi_temp_path $run/scgi;
  server {
    listen 127.0.0.1:$port;
    location /static/ { alias $dir/; }
    location / { return 200 "Hello, World!"; }
  }
}
CONF
exec nginx -c "$run/nginx.conf" -g 'daemon off;'
