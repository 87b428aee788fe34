#!/usr/bin/env bash
# HTTPS benchmark: nginx, HAProxy and sluice side by side, terminating TLS
# with the same certificate (ECDSA P-256) and the same protocols (TLS 1.2
# and 1.3) in front of the same plain HTTP backend, in one run, on
# loopback. Prints medians of RUNS runs and ratios. Installs what it needs
# with apt-get (as root) when missing.
#
#   bash bench/https.sh              # RUNS=3 by default
#   RUNS=5 WRKDUR=10s ABN=5000 bash bench/https.sh
#
# Scenarios:
#   (a) wrk -c64 over HTTPS keep-alive, 64-byte responses, upstream
#       keepalive: TLS record cost on a busy connection
#   (b) new TLS connections: ab -c20 without -k (a full handshake and one
#       request per connection, no session resumption)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
RUNS=${RUNS:-3}
WRKDUR=${WRKDUR:-5s}
ABN=${ABN:-4000}

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v haproxy >/dev/null || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
command -v ab >/dev/null || need+=(apache2-utils)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

W=$(mktemp -d /tmp/sluice-httpsbench.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

go build -o "$W/sluice" ./cmd/sluice
go build -o "$W/benchpeer" ./bench/benchpeer

# one throwaway certificate for all three
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.example \
  -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null
cat "$W/cert.pem" "$W/key.pem" > "$W/haproxy.pem"

"$W/benchpeer" http -listen 127.0.0.1:7601 -size 64 & pids+=($!)

httpsconf() { # $1 port  $2 prefix dir
cat <<CONF
worker_processes 2;
worker_rlimit_nofile 20000;
pid $2/proxy.pid;
error_log $2/error.log error;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream small_ka { server 127.0.0.1:7601; keepalive 32; }
    server {
        listen 127.0.0.1:$1 ssl;
        ssl_certificate $W/cert.pem;
        ssl_certificate_key $W/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { proxy_pass http://small_ka; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
CONF
}
mkdir -p "$W/nginx" "$W/sluice-run/logs" "$W/haproxy"
{ echo "daemon off;"; httpsconf 7611 "$W/nginx"; } > "$W/nginx/nginx.conf"
httpsconf 7631 "$W/sluice-run" > "$W/sluice-run/sluice.conf"
# HAProxy reserves two descriptors per connection: keep maxconn under the
# descriptor limit
HAMAX=$(( ($(ulimit -n) - 200) / 2 )); [ $HAMAX -gt 20000 ] && HAMAX=20000
cat > "$W/haproxy/haproxy.cfg" <<CONF
global
    maxconn $HAMAX
    nbthread 2
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 75s
listen small_ka
    bind 127.0.0.1:7621 ssl crt $W/haproxy.pem
    http-reuse always
    server s 127.0.0.1:7601
CONF

nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" -e "$W/nginx/error.log" & pids+=($!)
haproxy -f "$W/haproxy/haproxy.cfg" -db >/dev/null 2>&1 & pids+=($!)
SLUICE_OK=1
"$W/sluice" -c "$W/sluice-run/sluice.conf" -p "$W/sluice-run" 2>"$W/sluice-run/stderr" & pids+=($!)

waitport() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
for p in 7601 7611 7621; do waitport $p || { echo "port $p did not open"; exit 1; }; done
if ! waitport 7631; then SLUICE_OK=0; echo "sluice did not start:"; cat "$W/sluice-run/stderr"; fi

targets=(nginx haproxy sluice)
port() { case $1 in nginx) echo 7611;; haproxy) echo 7621;; sluice) echo 7631;; esac; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b+0 == 0 || a == "nan" || b == "nan") print "-"; else printf "%.2f", a/b }'; }
avail() { [ "$1" != sluice ] || [ $SLUICE_OK = 1 ]; }
# sanity: each answers over TLS
for t in "${targets[@]}"; do
  avail $t || continue
  curl -sk --max-time 5 -o /dev/null -w "%{http_code}" "https://127.0.0.1:$(port $t)/" | grep -q 200 || { echo "$t does not answer 200 over HTTPS"; exit 1; }
done

# wrkrun port: prints "req/s p99_ms errors"
wrkrun() {
  wrk -c64 -t2 -d"$WRKDUR" --latency "https://127.0.0.1:$1/" | awk '
    /Requests\/sec/ {rps=$2}
    /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p99=v}
    /Non-2xx|Socket errors/ {bad=1}
    END {print rps, p99, bad+0}'
}
# abrun port: prints "conn/s failed"
abrun() {
  ab -q -n "$ABN" -c 20 "https://127.0.0.1:$1/" 2>&1 | awk '
    /^Requests per second/ {rps=$4}
    /^Failed requests/ {f=$3}
    /^Non-2xx/ {f+=$3}
    END {print rps+0, f+0}'
}

declare -A R
echo "== (a) HTTPS keep-alive, 64-byte responses (wrk -c64 -t2 -d$WRKDUR, median of $RUNS)"
for t in "${targets[@]}"; do
  avail $t || { R[ka,$t]=nan; R[p99,$t]=nan; continue; }
  out=$(for i in $(seq $RUNS); do wrkrun "$(port $t)"; done)
  R[ka,$t]=$(echo "$out" | awk '{print $1}' | median)
  R[p99,$t]=$(echo "$out" | awk '{print $2}' | median)
  bad=$(echo "$out" | awk '{s+=$3} END {print s+0}')
  printf "  %-8s %10s req/s  p99 %8s ms%s\n" $t "${R[ka,$t]}" "${R[p99,$t]}" "$([ "$bad" = 0 ] || echo '  (errors or non-2xx seen)')"
done
echo "== (b) new TLS connection per request (ab -n $ABN -c 20, no keep-alive, median of $RUNS)"
for t in "${targets[@]}"; do
  avail $t || { R[new,$t]=nan; continue; }
  out=$(for i in $(seq $RUNS); do abrun "$(port $t)"; done)
  R[new,$t]=$(echo "$out" | awk '{print $1}' | median)
  bad=$(echo "$out" | awk '{s+=$2} END {print s+0}')
  printf "  %-8s %10s conn/s%s\n" $t "${R[new,$t]}" "$([ "$bad" = 0 ] || echo "  ($bad failed requests)")"
done

echo
echo "== ratios (sluice / other)"
printf "  %-44s %8s %8s\n" metric "/nginx" "/haproxy"
row() { printf "  %-44s %8s %8s\n" "$1" $(ratio "$2" "$3") $(ratio "$2" "$4"); }
row "(a) HTTPS keep-alive req/s (higher is better)" ${R[ka,sluice]} ${R[ka,nginx]} ${R[ka,haproxy]}
row "(a) HTTPS keep-alive p99 (lower is better)" ${R[p99,sluice]} ${R[p99,nginx]} ${R[p99,haproxy]}
row "(b) new TLS connections/s (higher)" ${R[new,sluice]} ${R[new,nginx]} ${R[new,haproxy]}
