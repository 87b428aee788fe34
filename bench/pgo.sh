#!/usr/bin/env bash
# Makes cmd/sluice/default.pgo, the CPU profile the Go toolchain uses to
# optimise the sluice binary (profile-guided optimisation: go build picks
# the file up by itself). The profile is taken from sluice under the
# workloads of bench/http.sh and bench/stream.sh, one after the other:
# HTTP with and without upstream keepalive, 1 MB HTTP responses, TCP
# relaying of HTTP requests and of redis commands, and a bulk transfer.
# Run it again after changes to the hot paths; a stale profile still
# works, it only helps less.
#
#   bash bench/pgo.sh            # each workload for DUR (default 8s)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
DUR=${DUR:-8s}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

W=$(mktemp -d /tmp/sluice-pgo.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

# the binary that is profiled is built without the current profile
go build -pgo=off -o "$W/sluice" ./cmd/sluice
go build -o "$W/benchpeer" ./bench/benchpeer

"$W/benchpeer" source -listen 127.0.0.1:7901 & pids+=($!)
"$W/benchpeer" http -listen 127.0.0.1:7902 -size 64 & pids+=($!)
"$W/benchpeer" http -listen 127.0.0.1:7903 -size 1048576 & pids+=($!)
redis-server --port 7904 --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null & pids+=($!)

mkdir -p "$W/run/logs"
cat > "$W/run/sluice.conf" <<CONF
worker_processes $(nproc);
worker_rlimit_nofile 20000;
pid $W/run/proxy.pid;
error_log $W/run/error.log error;
events { worker_connections 20000; }
stream {
    server { listen 127.0.0.1:7911; proxy_pass 127.0.0.1:7901; }
    server { listen 127.0.0.1:7912; proxy_pass 127.0.0.1:7902; }
    server { listen 127.0.0.1:7914; proxy_pass 127.0.0.1:7904; }
}
http {
    access_log off;
    keepalive_requests 1000000;
    upstream small_ka { server 127.0.0.1:7902; keepalive 32; }
    upstream small    { server 127.0.0.1:7902; }
    upstream big_ka   { server 127.0.0.1:7903; keepalive 32; }
    server { listen 127.0.0.1:7921; location / { proxy_pass http://small_ka; proxy_http_version 1.1; proxy_set_header Connection ""; } }
    server { listen 127.0.0.1:7922; location / { proxy_pass http://small; } }
    server { listen 127.0.0.1:7923; location / { proxy_pass http://big_ka; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
SLUICE_CPUPROFILE="$W/cpu.pprof" "$W/sluice" -c "$W/run/sluice.conf" -p "$W/run" & SLUICE=$!

waitport() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open"; exit 1; }
for p in 7901 7902 7903 7904 7911 7921; do waitport $p; done

for port in 7921 7922 7912; do wrk -c64 -t2 -d"$DUR" "http://127.0.0.1:$port/" >/dev/null; done
wrk -c16 -t2 -d"$DUR" http://127.0.0.1:7923/ >/dev/null
redis-benchmark -p 7914 -c 50 -n 200000 -t set,get -q >/dev/null
"$W/benchpeer" bulk -addr 127.0.0.1:7911 -bytes 4G -buf 32k >/dev/null

kill -TERM $SLUICE
wait $SLUICE || true
# the master's profile and, with worker processes, each worker's (cpu.pprof.PID)
go tool pprof -proto "$W"/cpu.pprof* > cmd/sluice/default.pgo 2>/dev/null
echo "wrote cmd/sluice/default.pgo ($(wc -c < cmd/sluice/default.pgo) bytes)"

# Inlining guided by the profile must not grow the stack that idle
# keep-alive connections keep (see httpproxy's serve).
go test -pgo="$PWD/cmd/sluice/default.pgo" -count=1 -run TestIdleStack ./httpproxy
