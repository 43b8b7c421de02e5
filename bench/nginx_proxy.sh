#!/usr/bin/env bash
# nginx (worker_processes 1) as a reverse proxy on port $1 to the members on ports $2 $3,
# with an upstream keep-alive pool of 32 (the issue's reference setup).
set -euo pipefail
port=$1
run=$(mktemp -d)
cat >"$run/nginx.conf" <<CONF
worker_processes 1;
pid $run/nginx.pid;
error_log $run/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $run/body;
  proxy_temp_path $run/proxy;
  fastcgi_temp_path $run/fastcgi;
  uwsgi_temp_path $run/uwsgi;
  scgi_temp_path $run/scgi;
  upstream members {
    server 127.0.0.1:$2;
    server 127.0.0.1:$3;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://members;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
CONF
exec nginx -c "$run/nginx.conf" -g 'daemon off;'
