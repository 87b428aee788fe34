# Shared by the bench/ scripts (sourced): worker count and CPU pinning.
#
# WORKERS (default: all the CPUs) is the number of workers every proxy gets
# (nginx worker processes, HAProxy threads, sluice GOMAXPROCS). With PIN=1
# and WORKERS below the CPU count, PROXYCPU pins the proxies to the first
# WORKERS CPUs and LOADCPU the load generators and backends to the others;
# otherwise both are empty.
#
# Start every proxy, backend and load generator from the script's own
# session, as the scripts do. With sched_autogroup on (most distributions'
# kernels), a process started in a session of its own (setsid, a service
# manager) gets a CPU share of its own, next to the one the rest of the
# session splits: a proxy started that way looks up to a quarter faster
# on a machine the load generator shares.
NCPU=$(nproc)
WORKERS=${WORKERS:-$NCPU}
PIN=${PIN:-0}
if [ "$PIN" = 1 ] && [ "$WORKERS" -lt "$NCPU" ]; then
  PROXYCPU="taskset -c 0-$(( WORKERS - 1 ))"
  LOADCPU="taskset -c $WORKERS-$(( NCPU - 1 ))"
else
  PROXYCPU=""; LOADCPU=""
fi
echo "workers per proxy: $WORKERS; pinned: $PIN (proxies: ${PROXYCPU:-any CPU}; load generators and backends: ${LOADCPU:-any CPU})"

# runorder I T1 T2 ... prints the targets in the order of run I of
# interleaved runs: the rows of a balanced Latin square (Williams'
# design), in which, with an even number of targets, each one runs right
# after each other one exactly once in every N runs. A fixed order puts
# one proxy always after the same other one, whose after-effects
# (connections still closing, CPU still in use) then fall on that proxy
# alone.
runorder() {
  local i=$1; shift
  local n=$# k b
  for (( k = 0; k < n; k++ )); do
    if (( k == 0 )); then b=0; elif (( k % 2 )); then b=$(( (k + 1) / 2 )); else b=$(( n - k / 2 )); fi
    local j=$(( (b + i - 1) % n + 1 ))
    printf '%s\n' "${!j}"
  done
}

# perrun A B prints, run by run, the ratio of the first field of A's lines
# to that of B's (the same run's figures of two targets, one line per run
# in run order), to show how far a median's ratio holds in each run.
perrun() {
  paste -d' ' <(printf '%s\n' "$1" | awk 'NF {print $1}') <(printf '%s\n' "$2" | awk 'NF {print $1}') |
    awk '$1 != "nan" && $2+0 > 0 {printf "%s%.2f", (n++ ? " " : ""), $1/$2} END {print ""}'
}
