#!/usr/bin/env bash
# HTTP/2 benchmark: nginx and sluice side by side on the same http
# configuration (h2c with prior knowledge, and h2 over TLS), in one run, on
# loopback, with h2load (nghttp2-client). Prints medians of RUNS runs and
# ratios. Installs what it needs with apt-get (as root) when missing.
#
#   bash bench/h2.sh                 # RUNS=3 by default
#   RUNS=5 DUR=10 bash bench/h2.sh
#
# Scenarios (h2load -c20 -m10: 20 connections, 10 streams each):
#   (a) h2c, 64-byte responses proxied to an HTTP/1.1 backend (upstream
#       keepalive): every stream is a request balanced on its own
#   (b) h2c, "return 200" from the proxy itself: the HTTP/2 layer alone
#   (c) h2 over TLS, 64-byte responses proxied as in (a)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
RUNS=${RUNS:-3}
DUR=${DUR:-5}

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

W=$(mktemp -d /tmp/sluice-h2bench.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

go build -o "$W/sluice" ./cmd/sluice
go build -o "$W/benchpeer" ./bench/benchpeer
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$W/key.pem" -out "$W/cert.pem" >/dev/null 2>&1

"$W/benchpeer" http -listen 127.0.0.1:7901 -size 64 & pids+=($!)

# one http configuration for nginx and sluice; $1 is the base port
h2conf() { # $1 base port  $2 prefix dir
cat <<CONF
worker_processes 2;
worker_rlimit_nofile 20000;
pid $2/proxy.pid;
error_log $2/error.log error;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 1000000;
    http2_max_concurrent_streams 128;
    upstream small_ka { server 127.0.0.1:7901; keepalive 32; }
    server {
        listen 127.0.0.1:$(( $1 + 1 )) http2;
        location / { proxy_pass http://small_ka; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
    server {
        listen 127.0.0.1:$(( $1 + 2 )) http2;
        location / { return 200 "0123456789012345678901234567890123456789012345678901234567890123"; }
    }
    server {
        listen 127.0.0.1:$(( $1 + 3 )) ssl http2;
        ssl_certificate $W/cert.pem;
        ssl_certificate_key $W/key.pem;
        location / { proxy_pass http://small_ka; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
CONF
}
mkdir -p "$W/nginx" "$W/sluice-run/logs"
{ echo "daemon off;"; h2conf 7910 "$W/nginx"; } > "$W/nginx/nginx.conf"
h2conf 7930 "$W/sluice-run" > "$W/sluice-run/sluice.conf"

nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" -e "$W/nginx/error.log" & pids+=($!)
SLUICE_OK=1
"$W/sluice" -c "$W/sluice-run/sluice.conf" -p "$W/sluice-run" 2>"$W/sluice-run/stderr" & pids+=($!)

waitport() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
for p in 7901 7911 7913; do waitport $p || { echo "port $p did not open"; exit 1; }; done
if ! waitport 7931; then SLUICE_OK=0; echo "sluice did not start:"; cat "$W/sluice-run/stderr"; fi

targets=(nginx sluice)
base() { case $1 in nginx) echo 7910;; sluice) echo 7930;; esac; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b+0 == 0 || a == "nan" || b == "nan") print "-"; else printf "%.2f", a/b }'; }
avail() { [ "$1" != sluice ] || [ $SLUICE_OK = 1 ]; }
# h2run url: prints "req/s mean_ms failed"
h2run() {
  h2load -c20 -m10 -t2 -D "$DUR" --warm-up-time=1 "$1" 2>&1 | awk '
    /^finished in/ {for (i=1;i<=NF;i++) if ($(i+1) ~ /^req\/s/) rps=$i}
    /^requests:/ {for (i=1;i<=NF;i++) if ($(i+1) ~ /^failed/) bad=$i}
    /^time for request:/ {v=$6; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; mean=v}
    END {print rps+0, mean+0, bad+0}'
}

declare -A R
run_scenario() { # key scheme portindex title
  local key=$1 scheme=$2 idx=$3
  echo "== $4 (h2load -c20 -m10 -D$DUR, median of $RUNS)"
  for t in "${targets[@]}"; do
    avail $t || { R[$key.rps,$t]=nan; R[$key.mean,$t]=nan; continue; }
    out=$(for i in $(seq $RUNS); do h2run "$scheme://127.0.0.1:$(( $(base $t) + idx ))/"; done)
    R[$key.rps,$t]=$(echo "$out" | awk '{print $1}' | median)
    R[$key.mean,$t]=$(echo "$out" | awk '{print $2}' | median)
    bad=$(echo "$out" | awk '{s+=$3} END {print s+0}')
    printf "  %-8s %10s req/s  mean %8s ms%s\n" $t "${R[$key.rps,$t]}" "${R[$key.mean,$t]}" "$([ "$bad" = 0 ] || echo "  ($bad failed requests)")"
  done
}
run_scenario proxy http 1 "(a) h2c, 64-byte responses proxied (upstream keepalive)"
run_scenario ret http 2 "(b) h2c, return 200 from the proxy"
run_scenario tls https 3 "(c) h2 over TLS, 64-byte responses proxied"

echo
echo "== ratios (sluice / nginx)"
printf "  %-44s %8s\n" metric "/nginx"
row() { printf "  %-44s %8s\n" "$1" "$(ratio "$2" "$3")"; }
row "(a) h2c proxied req/s (higher is better)" "${R[proxy.rps,sluice]}" "${R[proxy.rps,nginx]}"
row "(a) h2c proxied mean time (lower is better)" "${R[proxy.mean,sluice]}" "${R[proxy.mean,nginx]}"
row "(b) h2c return req/s (higher)" "${R[ret.rps,sluice]}" "${R[ret.rps,nginx]}"
row "(c) h2 TLS proxied req/s (higher)" "${R[tls.rps,sluice]}" "${R[tls.rps,nginx]}"
row "(c) h2 TLS proxied mean time (lower)" "${R[tls.mean,sluice]}" "${R[tls.mean,nginx]}"
