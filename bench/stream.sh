#!/usr/bin/env bash
# L4 benchmark: nginx, HAProxy and sluice side by side on the same stream
# configuration, in one run, on loopback. Prints medians of RUNS runs and
# ratios. Installs what it needs with apt-get (as root) when missing.
#
#   bash bench/stream.sh            # RUNS=3 by default
#   RUNS=5 BULK=4G bash bench/stream.sh
#   TESTS="rps redis" TARGETS="nginx sluice" bash bench/stream.sh
#
# The proxies run with the same number of workers: WORKERS (default: all
# the CPUs) nginx worker processes, HAProxy threads and sluice GOMAXPROCS;
# wrk runs WORKERS threads. With PIN=1 the proxies are pinned with taskset
# to the first WORKERS CPUs and the backends and load generators (wrk,
# redis-benchmark, the bulk reader) to the others, the same way for all
# three (set WORKERS below the CPU count). Pinning is off by default: on a
# machine with few CPUs the CPUs left to the load generator and the
# backends saturate first, and the figures then measure how much a proxy
# batches replies rather than what it costs.
#
# In (a), (b) and (c) the proxies take turns run by run (nginx, haproxy,
# sluice, nginx, ...), so that other load on the machine weighs on all of
# them alike, in an order that changes from run to run (runorder in
# lib.sh), so that none always runs right after the same other one.
#
# Besides rates, (a) prints the CPU time the proxy used per GB moved, and
# (b) and (c) per request (user+system of all its processes, from /proc):
# the figure that depends least on what else the machine is running.
# Under each median, sluice's ratio to nginx in each run (and, in (a), to
# the direct transfer) shows how far the median's ratio holds run by run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
RUNS=${RUNS:-3}
BULK=${BULK:-2G}
IDLE=${IDLE:-4000}
WRKDUR=${WRKDUR:-5s}
TESTS=${TESTS:-bulk rps redis mem}
. bench/lib.sh

need=()
command -v nginx >/dev/null || need+=(nginx libnginx-mod-stream)
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
command -v haproxy >/dev/null || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

W=$(mktemp -d /tmp/sluice-bench.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

go build -o "$W/sluice" ./cmd/sluice
go build -o "$W/benchpeer" ./bench/benchpeer

# backends: 7001 byte source, 7002 HTTP 64-byte body, 7003 redis
$LOADCPU "$W/benchpeer" source -listen 127.0.0.1:7001 & pids+=($!)
$LOADCPU "$W/benchpeer" http -listen 127.0.0.1:7002 -size 64 & pids+=($!)
$LOADCPU redis-server --port 7003 --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null & pids+=($!)

# one stream configuration, read by nginx and sluice; BASE is the first port
streamconf() { # $1 base port  $2 prefix dir
cat <<CONF
worker_processes $WORKERS;
worker_rlimit_nofile 20000;
pid $2/proxy.pid;
error_log $2/error.log error;
events { worker_connections 9000; }
stream {
    upstream source { server 127.0.0.1:7001; }
    upstream web    { server 127.0.0.1:7002; }
    upstream redis  { server 127.0.0.1:7003; }
    server { listen 127.0.0.1:$(( $1 + 1 )); proxy_pass source; }
    server { listen 127.0.0.1:$(( $1 + 2 )); proxy_pass web; }
    server { listen 127.0.0.1:$(( $1 + 3 )); proxy_pass redis; }
}
CONF
}
mkdir -p "$W/nginx" "$W/sluice-run" "$W/haproxy"
{ echo "load_module /usr/lib/nginx/modules/ngx_stream_module.so;"; echo "daemon off;"; streamconf 7100 "$W/nginx"; } > "$W/nginx/nginx.conf"
streamconf 7300 "$W/sluice-run" > "$W/sluice-run/sluice.conf"
cat > "$W/haproxy/haproxy.cfg" <<CONF
global
    maxconn 9000
    nbthread $WORKERS
defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
listen source
    bind 127.0.0.1:7201
    server s 127.0.0.1:7001
listen web
    bind 127.0.0.1:7202
    server s 127.0.0.1:7002
listen redis
    bind 127.0.0.1:7203
    server s 127.0.0.1:7003
CONF

$PROXYCPU nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" -e "$W/nginx/error.log" & pids+=($!); NGINX_PID=$!
$PROXYCPU haproxy -f "$W/haproxy/haproxy.cfg" -db >/dev/null 2>&1 & pids+=($!); HAPROXY_PID=$!
SLUICE_OK=1
GOMAXPROCS=$WORKERS $PROXYCPU "$W/sluice" -c "$W/sluice-run/sluice.conf" -p "$W/sluice-run" 2>"$W/sluice-run/stderr" & pids+=($!); SLUICE_PID=$!

waitport() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
for p in 7001 7002 7003 7101 7201; do waitport $p || { echo "port $p did not open"; exit 1; }; done
if ! waitport 7301; then SLUICE_OK=0; echo "sluice did not start:"; cat "$W/sluice-run/stderr"; fi

targets=(${TARGETS:-direct nginx haproxy sluice})
port() { case $1 in direct) echo $(( 7000 + $2 ));; nginx) echo $(( 7100 + $2 ));; haproxy) echo $(( 7200 + $2 ));; sluice) echo $(( 7300 + $2 ));; esac; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
pidof_t() { case $1 in nginx) echo $NGINX_PID;; haproxy) echo $HAPROXY_PID;; sluice) echo $SLUICE_PID;; *) echo;; esac; }
# cputicks PID: user+system clock ticks of PID and its children
cputicks() { local t=0 p; [ -n "${1:-}" ] || { echo 0; return; }; for p in $1 $(pgrep -P $1 2>/dev/null); do t=$(( t + $(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0) )); done; echo $t; }
HZ=$(getconf CLK_TCK)
usper() { awk -v t="$1" -v n="$2" -v hz=$HZ 'BEGIN { if (n+0 == 0) print "nan"; else printf "%.1f\n", t * 1e6 / hz / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b+0 == 0 || a == "nan" || b == "nan") print "-"; else printf "%.2f", a/b }'; }
avail() { [ "$1" != sluice ] || [ $SLUICE_OK = 1 ]; }
want() { [[ " $TESTS " == *" $1 "* ]]; }

declare -A R
for k in bulk bulkmid bulkbig bulkcpu bulkmidcpu bulkbigcpu rps p99 rpscpu redis rediscpu mem; do for t in direct nginx haproxy sluice; do R[$k,$t]=nan; done; done
# (a), (b) and (c) interleave the proxies run by run (nginx, haproxy, sluice,
# nginx, ...) rather than running one proxy RUNS times and then the next:
# whatever else loads the machine then weighs on all of them alike, and
# the same-run ratios compare like with like. The order changes from run
# to run (runorder, lib.sh), so that no proxy always follows the same one.
# interleaved RUN calls RUN with each target RUNS times so; OUT[target]
# collects RUN's output lines, each followed by the proxy's CPU ticks
# during that run.
declare -A OUT
interleaved() {
  for t in "${targets[@]}"; do OUT[$t]=""; done
  for i in $(seq $RUNS); do
    for t in $(runorder $i "${targets[@]}"); do
      avail $t || continue
      c0=$(cputicks $(pidof_t $t))
      line=$($1 $t)
      OUT[$t]+="$line $(( $(cputicks $(pidof_t $t)) - c0 ))"$'\n'
    done
  done
}
if want bulk; then
# Three readers: one asking 8 KB per read (what io.Copy to io.Discard
# does), whose own CPU time limits the rate, one asking 32 KB (io.Copy's
# own buffer, between two plain connections), and one asking 128 KB (as
# iperf3 does), which leaves the proxy the larger share of the cost.
for rb in ${BULKREADS:-8k 32k 128k}; do
  echo "== (a) bulk transfer through one connection ($BULK, reads of $rb, median of $RUNS, runs interleaved)"
  run_bulk() { $LOADCPU "$W/benchpeer" bulk -addr 127.0.0.1:$(port $1 1) -bytes $BULK -buf $rb | awk '{print $1}'; }
  interleaved run_bulk
  case $rb in 8k) key=bulk ;; 32k) key=bulkmid ;; *) key=bulkbig ;; esac
  gb=$(awk -v b="$BULK" 'BEGIN { m = 1; u = substr(b, length(b)); if (u == "G") m = 2^30; else if (u == "M") m = 2^20; else if (u == "k" || u == "K") m = 2^10; printf "%.6f", (m == 1 ? b : substr(b, 1, length(b) - 1)) * m / 1e9 }')
  for t in "${targets[@]}"; do
    avail $t || { R[$key,$t]=nan; continue; }
    R[$key,$t]=$(printf '%s' "${OUT[$t]}" | awk '{print $1}' | median)
    R[${key}cpu,$t]=$(printf '%s' "${OUT[$t]}" | awk -v hz=$HZ -v gb=$gb '{printf "%.2f\n", $2 / hz / gb}' | median)
    [ $t != direct ] || R[${key}cpu,$t]=-
    echo "  $t: ${R[$key,$t]} GB/s, proxy CPU ${R[${key}cpu,$t]} s per GB"
  done
  if avail sluice; then echo "  sluice/nginx in each run: $(perrun "${OUT[sluice]}" "${OUT[nginx]:-}"); sluice/direct: $(perrun "${OUT[sluice]}" "${OUT[direct]:-}")"; fi
done
fi
if want rps; then
echo "== (b) wrk -c64 -t$WORKERS -d$WRKDUR through the proxy to an HTTP backend (median of $RUNS, runs interleaved)"
run_rps() {
  $LOADCPU wrk -c64 -t$WORKERS -d$WRKDUR --latency http://127.0.0.1:$(port $1 2)/ | awk '
    /^ +[0-9]+ requests in/ {n=$1}
    /Requests\/sec/ {rps=$2}
    /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p99=v}
    END {print rps, p99, n}'
}
interleaved run_rps
for t in "${targets[@]}"; do
  avail $t || { R[rps,$t]=nan; R[p99,$t]=nan; continue; }
  out=$(printf '%s' "${OUT[$t]}")
  R[rps,$t]=$(echo "$out" | awk '{print $1}' | median); R[p99,$t]=$(echo "$out" | awk '{print $2}' | median)
  R[rpscpu,$t]=$(echo "$out" | while read -r _ _ n c; do usper $c $n; done | median); [ $t != direct ] || R[rpscpu,$t]=-
  echo "  $t: ${R[rps,$t]} req/s, p99 ${R[p99,$t]} ms, proxy CPU ${R[rpscpu,$t]} us/request"
done
if avail sluice; then echo "  sluice/nginx in each run: $(perrun "${OUT[sluice]}" "${OUT[nginx]:-}") (req/s); p99: $(perrun "$(printf '%s' "${OUT[sluice]}" | awk '{print $2}')" "$(printf '%s' "${OUT[nginx]:-}" | awk '{print $2}')")"; fi
fi
if want redis; then
echo "== (c) redis-benchmark -c50 -n 100000 -t set,get (median of $RUNS, runs interleaved, requests/s of SET+GET averaged)"
# How the 50 connections are spread over a proxy's processes matters on a
# machine with few CPUs: one process holding all of them serves bigger
# batches per wake-up than two holding half each. nginx's workers share one
# socket, and a burst from one client tends to go to one worker; sluice's
# have one socket each, and those of a stream address give a connection
# from this host to the worker its client's CPU selects (docs/
# differences.md, "One socket per worker"). spread records, a
# second into each run, how many of the connections each process holds
# (ss -p; empty where it cannot see them).
spread() { sleep 1; ss -tnpH state established "( sport = :$1 )" 2>/dev/null | grep -o 'pid=[0-9]*' | sort | uniq -c | awk '{print $1}' | sort -rn | paste -sd/ -; }
run_redis() {
  if [ $1 != direct ]; then spread $(port $1 3) >> "$W/spread.$1" & fi
  $LOADCPU redis-benchmark -h 127.0.0.1 -p $(port $1 3) -c 50 -n 100000 -t set,get -q 2>/dev/null | tr '\r' '\n' | awk '/requests per second/ {s+=$2; n++} END {if (n) printf "%s", s/n}'
  wait
}
interleaved run_redis
for t in "${targets[@]}"; do
  avail $t || { R[redis,$t]=nan; continue; }
  out=$(printf '%s' "${OUT[$t]}")
  R[redis,$t]=$(echo "$out" | awk '{print $1}' | median)
  R[rediscpu,$t]=$(echo "$out" | while read -r _ c; do usper $c 200000; done | median); [ $t != direct ] || R[rediscpu,$t]=-
  sp=""; [ ! -s "$W/spread.$t" ] || sp=", connections per process in each run: $(paste -sd' ' "$W/spread.$t")"
  echo "  $t: ${R[redis,$t]} req/s, proxy CPU ${R[rediscpu,$t]} us/request$sp"
done
if avail sluice; then echo "  sluice/nginx in each run: $(perrun "${OUT[sluice]}" "${OUT[nginx]:-}")"; fi
fi
if want mem; then
echo "== (d) memory per idle proxied connection ($IDLE connections)"
rss() { local tot=0; for p in "$@"; do for q in $p $(pgrep -P $p 2>/dev/null); do v=$(awk '/VmRSS/ {print $2}' /proc/$q/status 2>/dev/null || echo 0); tot=$(( tot + ${v:-0} )); done; done; echo $tot; }
for t in "${targets[@]}"; do
  [ $t != direct ] || continue
  avail $t || { R[mem,$t]=nan; continue; }
  case $t in nginx) pp=$NGINX_PID;; haproxy) pp=$HAPROXY_PID;; sluice) pp=$SLUICE_PID;; esac
  before=$(rss $pp)
  fifo="$W/idle.$t"; mkfifo "$fifo"
  "$W/benchpeer" idle -addr 127.0.0.1:$(port $t 2) -n $IDLE < "$fifo" > "$W/idle.$t.out" & ip=$!
  exec 9>"$fifo"
  for _ in $(seq 1 200); do grep -q ready "$W/idle.$t.out" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  after=$(rss $pp)
  exec 9>&-; wait $ip || true
  R[mem,$t]=$(awk -v a=$after -v b=$before -v n=$IDLE 'BEGIN {printf "%.1f", (a-b)/n}')
  echo "  $t: ${R[mem,$t]} KB per connection (RSS $before KB -> $after KB)"
done
fi

echo
echo "== ratios (sluice / other)"
printf "  %-40s %8s %8s %8s\n" metric "/nginx" "/haproxy" "/direct"
printf "  %-40s %8s %8s %8s\n" "bulk GB/s, 8 KB reads (higher better)" $(ratio ${R[bulk,sluice]} ${R[bulk,nginx]}) $(ratio ${R[bulk,sluice]} ${R[bulk,haproxy]}) $(ratio ${R[bulk,sluice]} ${R[bulk,direct]})
printf "  %-40s %8s %8s %8s\n" "bulk GB/s, 32 KB reads (higher better)" $(ratio ${R[bulkmid,sluice]} ${R[bulkmid,nginx]}) $(ratio ${R[bulkmid,sluice]} ${R[bulkmid,haproxy]}) $(ratio ${R[bulkmid,sluice]} ${R[bulkmid,direct]})
printf "  %-40s %8s %8s %8s\n" "bulk GB/s, 128 KB reads (higher better)" $(ratio ${R[bulkbig,sluice]} ${R[bulkbig,nginx]}) $(ratio ${R[bulkbig,sluice]} ${R[bulkbig,haproxy]}) $(ratio ${R[bulkbig,sluice]} ${R[bulkbig,direct]})
printf "  %-40s %8s %8s %8s\n" "bulk CPU per GB, 8 KB reads (lower)" $(ratio ${R[bulkcpu,sluice]} ${R[bulkcpu,nginx]}) $(ratio ${R[bulkcpu,sluice]} ${R[bulkcpu,haproxy]}) "-"
printf "  %-40s %8s %8s %8s\n" "bulk CPU per GB, 32 KB reads (lower)" $(ratio ${R[bulkmidcpu,sluice]} ${R[bulkmidcpu,nginx]}) $(ratio ${R[bulkmidcpu,sluice]} ${R[bulkmidcpu,haproxy]}) "-"
printf "  %-40s %8s %8s %8s\n" "bulk CPU per GB, 128 KB reads (lower)" $(ratio ${R[bulkbigcpu,sluice]} ${R[bulkbigcpu,nginx]}) $(ratio ${R[bulkbigcpu,sluice]} ${R[bulkbigcpu,haproxy]}) "-"
printf "  %-40s %8s %8s %8s\n" "wrk req/s (higher is better)" $(ratio ${R[rps,sluice]} ${R[rps,nginx]}) $(ratio ${R[rps,sluice]} ${R[rps,haproxy]}) $(ratio ${R[rps,sluice]} ${R[rps,direct]})
printf "  %-40s %8s %8s %8s\n" "wrk p99 ms (lower is better)" $(ratio ${R[p99,sluice]} ${R[p99,nginx]}) $(ratio ${R[p99,sluice]} ${R[p99,haproxy]}) $(ratio ${R[p99,sluice]} ${R[p99,direct]})
printf "  %-40s %8s %8s %8s\n" "wrk CPU/request (lower is better)" $(ratio ${R[rpscpu,sluice]} ${R[rpscpu,nginx]}) $(ratio ${R[rpscpu,sluice]} ${R[rpscpu,haproxy]}) "-"
printf "  %-40s %8s %8s %8s\n" "redis CPU/request (lower is better)" $(ratio ${R[rediscpu,sluice]} ${R[rediscpu,nginx]}) $(ratio ${R[rediscpu,sluice]} ${R[rediscpu,haproxy]}) "-"
printf "  %-40s %8s %8s %8s\n" "redis req/s (higher is better)" $(ratio ${R[redis,sluice]} ${R[redis,nginx]}) $(ratio ${R[redis,sluice]} ${R[redis,haproxy]}) $(ratio ${R[redis,sluice]} ${R[redis,direct]})
printf "  %-40s %8s %8s %8s\n" "KB per idle conn (lower is better)" $(ratio ${R[mem,sluice]} ${R[mem,nginx]}) $(ratio ${R[mem,sluice]} ${R[mem,haproxy]}) "-"
