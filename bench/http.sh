#!/usr/bin/env bash
# L7 benchmark: nginx, HAProxy (mode http) and sluice side by side on the
# same http configuration, in one run, on loopback. Prints medians of RUNS
# runs and ratios. Installs what it needs with apt-get (as root) when
# missing.
#
#   bash bench/http.sh              # RUNS=3 by default
#   RUNS=5 WRKDUR=10s IDLE=10000 bash bench/http.sh
#   WORKERS=1 PIN=1 bash bench/http.sh
#
# The proxies run with the same number of workers: WORKERS (default: all
# the CPUs) nginx worker processes, HAProxy threads and sluice's
# worker_processes (its GOMAXPROCS); the three read the same figure. wrk
# runs two threads. With PIN=1 (and WORKERS below the CPU count) the
# proxies are pinned with taskset to the first WORKERS CPUs and the
# backends and wrk to the others, the same way for all three. Pinning is
# off by default: on a machine with few CPUs the CPUs left to wrk and the
# backends saturate first, and the figures then say more about how a proxy
# batches than about what it costs.
#
# Besides rates, each scenario prints the CPU time the proxy used per
# request (user+system of all its processes and threads, from /proc): the
# figure that depends least on what else the machine runs, since on a
# machine whose CPUs wrk, the backends and the proxy share, req/s falls as
# the load generator or the backends get less CPU.
#
# Scenarios:
#   (a) wrk -c64, 64-byte responses, upstream keepalive (keepalive 32,
#       proxy_http_version 1.1, Connection "")
#   (b) the same without upstream keepalive (nginx's default: a new
#       upstream connection per request, HTTP/1.0, Connection: close)
#   (c) wrk -c16, 1 MB responses over upstream keepalive: throughput
#   (d) RSS per idle keep-alive client connection (IDLE connections that
#       made one request each and then wait)
# Under each median of (a), (b) and (c), sluice's ratio to nginx in each
# run (req/s, or MB/s in (c), and p99) shows how far the median's ratio
# holds run by run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
RUNS=${RUNS:-3}
IDLE=${IDLE:-10000}
WRKDUR=${WRKDUR:-5s}
. bench/lib.sh

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v haproxy >/dev/null || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

W=$(mktemp -d /tmp/sluice-httpbench.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

go build -o "$W/sluice" ./cmd/sluice
go build -o "$W/benchpeer" ./bench/benchpeer

# the idle client: IDLE connections, one request each, then they wait
mkdir -p "$W/idlecli"
cat > "$W/idlecli/main.go" <<'GO'
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	addr := os.Args[1]
	n, _ := strconv.Atoi(os.Args[2])
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			fmt.Println("error", i, err)
			os.Exit(1)
		}
		c.Write([]byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n"))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			fmt.Println("error", i, err)
			os.Exit(1)
		}
		io.Copy(io.Discard, resp.Body)
		conns = append(conns, c)
	}
	fmt.Println("ready", len(conns))
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
GO
(cd "$W/idlecli" && GO111MODULE=off go build -o "$W/idle" main.go)

# backends: 7501 64-byte body, 7502 1 MB body (keep-alive HTTP/1.1)
$LOADCPU "$W/benchpeer" http -listen 127.0.0.1:7501 -size 64 & pids+=($!)
$LOADCPU "$W/benchpeer" http -listen 127.0.0.1:7502 -size 1048576 & pids+=($!)

# one http configuration, read by nginx and sluice; $1 is the base port
httpconf() { # $1 base port  $2 prefix dir
cat <<CONF
worker_processes $WORKERS;
worker_rlimit_nofile 20000;
pid $2/proxy.pid;
error_log $2/error.log error;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream small_ka { server 127.0.0.1:7501; keepalive 32; }
    upstream small    { server 127.0.0.1:7501; }
    upstream big_ka   { server 127.0.0.1:7502; keepalive 32; }
    server {
        listen 127.0.0.1:$(( $1 + 1 ));
        location / { proxy_pass http://small_ka; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
    server {
        listen 127.0.0.1:$(( $1 + 2 ));
        location / { proxy_pass http://small; }
    }
    server {
        listen 127.0.0.1:$(( $1 + 3 ));
        location / { proxy_pass http://big_ka; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
CONF
}
mkdir -p "$W/nginx" "$W/sluice-run/logs" "$W/haproxy"
{ echo "daemon off;"; httpconf 7510 "$W/nginx"; } > "$W/nginx/nginx.conf"
httpconf 7530 "$W/sluice-run" > "$W/sluice-run/sluice.conf"
# HAProxy reserves two descriptors per connection: keep maxconn under the
# descriptor limit (its idle run is capped at HAMAX - 100 connections)
HAMAX=$(( ($(ulimit -n) - 200) / 2 )); [ $HAMAX -gt 30000 ] && HAMAX=30000
cat > "$W/haproxy/haproxy.cfg" <<CONF
global
    maxconn $HAMAX
    nbthread $WORKERS
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 75s
listen small_ka
    bind 127.0.0.1:7521
    http-reuse always
    server s 127.0.0.1:7501
listen small
    bind 127.0.0.1:7522
    option http-server-close
    server s 127.0.0.1:7501
listen big_ka
    bind 127.0.0.1:7523
    http-reuse always
    server s 127.0.0.1:7502
CONF

$PROXYCPU nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" -e "$W/nginx/error.log" & pids+=($!); NGINX_PID=$!
$PROXYCPU haproxy -f "$W/haproxy/haproxy.cfg" -db >/dev/null 2>&1 & pids+=($!); HAPROXY_PID=$!
SLUICE_OK=1
$PROXYCPU "$W/sluice" -c "$W/sluice-run/sluice.conf" -p "$W/sluice-run" 2>"$W/sluice-run/stderr" & pids+=($!); SLUICE_PID=$!

waitport() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
for p in 7501 7502 7511 7521; do waitport $p || { echo "port $p did not open"; exit 1; }; done
if ! waitport 7531; then SLUICE_OK=0; echo "sluice did not start:"; cat "$W/sluice-run/stderr"; fi

targets=(direct nginx haproxy sluice)
port() { case $1 in
  direct) case $2 in 1|2) echo 7501;; 3) echo 7502;; esac;;
  nginx) echo $(( 7510 + $2 ));; haproxy) echo $(( 7520 + $2 ));; sluice) echo $(( 7530 + $2 ));; esac; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b+0 == 0 || a == "nan" || b == "nan") print "-"; else printf "%.2f", a/b }'; }
avail() { [ "$1" != sluice ] || [ $SLUICE_OK = 1 ]; }
# cputicks PID: user+system clock ticks of PID and its children
cputicks() { local t=0 p; [ -n "${1:-}" ] || { echo 0; return; }; for p in $1 $(pgrep -P $1 2>/dev/null); do t=$(( t + $(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0) )); done; echo $t; }
TICK=$(getconf CLK_TCK)
# wrkrun conns port [pid]: prints "req/s p99_ms MB/s non2xx_or_errors
# cpu_us_per_request" (the last is "nan" without a pid)
wrkrun() {
  local c0 c1
  c0=$(cputicks "${3:-}")
  $LOADCPU wrk -c"$1" -t2 -d"$WRKDUR" --latency "http://127.0.0.1:$2/" > "$W/wrk.out"
  c1=$(cputicks "${3:-}")
  awk -v ticks=$(( c1 - c0 )) -v hz="$TICK" -v haspid="${3:-}" '
    /Requests\/sec/ {rps=$2}
    /Transfer\/sec/ {v=$2; if (v ~ /GB$/) {sub(/GB/,"",v); v=v*1024} else if (v ~ /MB$/) {sub(/MB/,"",v)} else if (v ~ /KB$/) {sub(/KB/,"",v); v=v/1024} else {sub(/B/,"",v); v=v/1048576}; mbs=v}
    /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p99=v}
    /Non-2xx|Socket errors/ {bad=1}
    / requests in / {n=$1}
    END {cpu="nan"; if (haspid != "" && n > 0) cpu=sprintf("%.1f", ticks*1e6/hz/n); print rps, p99, mbs, bad+0, cpu}' "$W/wrk.out"
}
pidof_t() { case $1 in nginx) echo $NGINX_PID;; haproxy) echo $HAPROXY_PID;; sluice) echo $SLUICE_PID;; *) echo;; esac; }

declare -A R
# The runs are interleaved, target by target (direct, nginx, haproxy,
# sluice, then again), so that a change in what else the machine does
# falls on all of them alike and the same-run ratios compare like with
# like. The order changes from run to run (runorder, lib.sh), so that no
# proxy always runs right after the same other one.
run_scenario() { # key conns portindex title
  local key=$1 conns=$2 idx=$3 i t
  echo "== $4 (wrk -c$conns -t2 -d$WRKDUR, median of $RUNS, runs interleaved)"
  declare -A outs=()
  for i in $(seq $RUNS); do
    for t in $(runorder $i "${targets[@]}"); do
      avail $t || continue
      outs[$t]+="$(wrkrun "$conns" "$(port $t $idx)" "$(pidof_t $t)")"$'\n'
    done
  done
  for t in "${targets[@]}"; do
    avail $t || { R[$key.rps,$t]=nan; R[$key.p99,$t]=nan; R[$key.mbs,$t]=nan; R[$key.cpu,$t]=nan; continue; }
    out=$(printf "%s" "${outs[$t]}")
    R[$key.rps,$t]=$(echo "$out" | awk '{print $1}' | median)
    R[$key.p99,$t]=$(echo "$out" | awk '{print $2}' | median)
    R[$key.mbs,$t]=$(echo "$out" | awk '{print $3}' | median)
    R[$key.cpu,$t]=$(echo "$out" | awk '$5 != "nan" {print $5}' | median)
    bad=$(echo "$out" | awk '{s+=$4} END {print s+0}')
    printf "  %-8s %10s req/s  p99 %8s ms  %9s MB/s  %6s us CPU/req%s\n" $t "${R[$key.rps,$t]}" "${R[$key.p99,$t]}" "${R[$key.mbs,$t]}" "${R[$key.cpu,$t]}" "$([ "$bad" = 0 ] || echo '  (errors or non-2xx seen)')"
  done
  if avail sluice; then
    local f=1; [ "$key" != big ] || f=3
    echo "  sluice/nginx in each run: $(perrun "$(printf '%s' "${outs[sluice]}" | awk -v f=$f '{print $f}')" "$(printf '%s' "${outs[nginx]}" | awk -v f=$f '{print $f}')") ($([ $f = 1 ] && echo req/s || echo MB/s)); p99: $(perrun "$(printf '%s' "${outs[sluice]}" | awk '{print $2}')" "$(printf '%s' "${outs[nginx]}" | awk '{print $2}')")"
  fi
}
run_scenario ka 64 1 "(a) 64-byte responses, upstream keepalive"
run_scenario noka 64 2 "(b) 64-byte responses, no upstream keepalive (nginx's default)"
run_scenario big 16 3 "(c) 1 MB responses, upstream keepalive"

echo "== (d) memory per idle keep-alive client connection ($IDLE connections)"
rss() { local tot=0; for p in "$@"; do for q in $p $(pgrep -P $p 2>/dev/null); do v=$(awk '/VmRSS/ {print $2}' /proc/$q/status 2>/dev/null || echo 0); tot=$(( tot + ${v:-0} )); done; done; echo $tot; }
for t in nginx haproxy sluice; do
  avail $t || { R[mem,$t]=nan; continue; }
  case $t in nginx) pp=$NGINX_PID;; haproxy) pp=$HAPROXY_PID;; sluice) pp=$SLUICE_PID;; esac
  n=$IDLE; [ $t = haproxy ] && [ $n -gt $(( HAMAX - 100 )) ] && n=$(( HAMAX - 100 ))
  before=$(rss $pp)
  fifo="$W/idle.$t"; mkfifo "$fifo"
  $LOADCPU "$W/idle" 127.0.0.1:$(port $t 1) $n < "$fifo" > "$W/idle.$t.out" & ip=$!
  exec 9>"$fifo"
  for _ in $(seq 1 600); do grep -q "ready\|error" "$W/idle.$t.out" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  after=$(rss $pp)
  exec 9>&-; wait $ip || true
  if grep -q error "$W/idle.$t.out"; then echo "  $t: $(cat "$W/idle.$t.out")"; R[mem,$t]=nan; continue; fi
  R[mem,$t]=$(awk -v a=$after -v b=$before -v n=$n 'BEGIN {printf "%.1f", (a-b)/n}')
  echo "  $t: ${R[mem,$t]} KB per connection ($n connections, RSS $before KB -> $after KB)"
done

echo
echo "== ratios (sluice / other)"
printf "  %-40s %8s %8s %8s\n" metric "/nginx" "/haproxy" "/direct"
row() { printf "  %-40s %8s %8s %8s\n" "$1" $(ratio "$2" "$3") $(ratio "$2" "$4") $(ratio "$2" "$5"); }
row "(a) keepalive req/s (higher is better)" ${R[ka.rps,sluice]} ${R[ka.rps,nginx]} ${R[ka.rps,haproxy]} ${R[ka.rps,direct]}
row "(a) keepalive p99 (lower is better)" ${R[ka.p99,sluice]} ${R[ka.p99,nginx]} ${R[ka.p99,haproxy]} ${R[ka.p99,direct]}
row "(a) keepalive CPU/request (lower)" ${R[ka.cpu,sluice]} ${R[ka.cpu,nginx]} ${R[ka.cpu,haproxy]} nan
row "(b) no keepalive req/s (higher)" ${R[noka.rps,sluice]} ${R[noka.rps,nginx]} ${R[noka.rps,haproxy]} ${R[noka.rps,direct]}
row "(b) no keepalive p99 (lower)" ${R[noka.p99,sluice]} ${R[noka.p99,nginx]} ${R[noka.p99,haproxy]} ${R[noka.p99,direct]}
row "(b) no keepalive CPU/request (lower)" ${R[noka.cpu,sluice]} ${R[noka.cpu,nginx]} ${R[noka.cpu,haproxy]} nan
row "(c) 1 MB MB/s (higher)" ${R[big.mbs,sluice]} ${R[big.mbs,nginx]} ${R[big.mbs,haproxy]} ${R[big.mbs,direct]}
row "(d) KB per idle conn (lower)" ${R[mem,sluice]} ${R[mem,nginx]} ${R[mem,haproxy]} nan
