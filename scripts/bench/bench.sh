#!/usr/bin/env bash
# Benchmark of waitline: `make bench` runs it and writes docs/benchmarks.md.
#
#   scripts/bench/bench.sh <waitline-binary>
#
# Starts its own redis-server (no persistence) and one waitline process on free loopback ports,
# then measures in rounds. Each round measures the Redis ceiling with redis-benchmark (INCR, LPUSH,
# RPOP; non-pipelined), then drives the service with wrk, one endpoint after the other: take
# (POST /get_ticket), list (GET /list_tickets, default limit 100, on the queue take filled), call
# (POST /call_ticket, draining it), then the original Python app (scripts/bench/original_app.py,
# on the same Redis, its own queue) on its take and list. A ratio is taken within one round, where the
# machine was the same for both; the document gives each round's and their median, which one
# disturbed round does not move. Writes docs/benchmarks.md and prints a summary.
# Every process it starts is stopped on exit; all traffic stays on 127.0.0.1.
#
# Environment (for quick trials; the defaults are the documented benchmark):
#   BENCH_ROUNDS         rounds of ceiling, take, list, call     (3)
#   BENCH_DURATION       seconds of wrk per endpoint and round   (10)
#   BENCH_CONNECTIONS    wrk connections and redis-benchmark -c  (64)
#   BENCH_THREADS        wrk threads                             (2)
#   BENCH_REDIS_SECONDS  target length of each redis-benchmark   (3)
#   BENCH_OUTPUT         the document to write                   (docs/benchmarks.md)
#   BENCH_KEEP=1         keep the work directory (logs, raw wrk output)
#   BENCH_PROXY=0        skip the proxy section (scripts/bench/proxy.sh: the Swarm stack, its own
#                        project wlperf; needs the engine and the images, `make images`)
#   BENCH_EVENTS=0       skip the live events section (scripts/bench/events.sh: 10,000 streams on
#                        one process; needs tests/bench/event_fanout, built beside the binary)
# Exit status: 0 when every phase ran without errors, 1 when a phase saw non-2xx answers or
# socket errors (the document is still written and says so), 2 on a usage or setup problem.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh" bench 2
[[ $# -eq 1 ]] || die "usage: $0 <waitline-binary>"
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[[ -x $binary ]] || die "$1 is not an executable"

rounds=${BENCH_ROUNDS:-3}
duration=${BENCH_DURATION:-10}
connections=${BENCH_CONNECTIONS:-64}
wrk_threads=${BENCH_THREADS:-2}
redis_seconds=${BENCH_REDIS_SECONDS:-3}
output=${BENCH_OUTPUT:-$root/docs/benchmarks.md}
queue=bench
for v in rounds duration connections wrk_threads redis_seconds; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
python=${PYTHON:-/usr/bin/python3}  # Debian's, where its packages are (make passes PYTHON)
for tool in wrk redis-server redis-cli redis-benchmark curl awk "$python"; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/setup/install-deps.sh installs it)"
done
"$python" -c 'import fastapi, uvicorn, redis' 2>/dev/null ||
  die "the original app needs python3-fastapi, python3-uvicorn and python3-redis (scripts/setup/install-deps.sh)"


# ---------------------------------------------------------------------------------------------
# Processes and clean-up. Long-running children run in the background and are waited for, so
# that a signal reaches the trap at once and the trap can stop them by pid.
work=$(mktemp -d "${TMPDIR:-/tmp}/waitline-bench.XXXXXX")
redis_pid="" service_pid="" original_pid=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_pid "$child_pid"; stop_pid "$service_pid"; stop_pid "$original_pid"; stop_pid "$redis_pid"
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "bench: work directory kept: $work" >&2; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# CPU accounting, to tell how much of the machine the benchmark had: ticks (USER_HZ) used by the
# whole machine (/proc/stat), by the measured server (waitline, or the original app in its phases:
# $measured_pid) and Redis (/proc/<pid>/stat), and by the tools this shell ran and reaped (wrk,
# redis-benchmark: bash's `times`, which must run in this shell).
clk_tck=$(getconf CLK_TCK)
declare -A cpu # <phase>.{total,busy,service,redis,tools}: ticks over the phase, every round
proc_ticks() { # pid -> utime + stime
  [[ -n $1 && -r /proc/$1/stat ]] || { echo 0; return; }
  awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"
}
cpu_sample() { # sets cpu_now to "total busy service redis tools"; `times` must not run in a subshell
  local hz=$clk_tck total busy tools
  read -r total busy < <(awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t, t - $5 - $6}' /proc/stat)
  times >"$work/times"
  tools=$(awk -v hz="$hz" 'NR == 2 {n = 0; for (i = 1; i <= 2; i++) {split($i, a, /[ms]/); n += (a[1] * 60 + a[2]) * hz}; printf "%.0f", n}' "$work/times")
  cpu_now="$total $busy $(proc_ticks "$measured_pid") $(proc_ticks "$redis_pid") $tools"
}
cpu_begin() { cpu_sample; cpu_start=$cpu_now; }
cpu_end() { # phase: adds the time since cpu_begin to the phase's
  local -a a b
  cpu_sample
  read -r -a a <<<"$cpu_start"
  read -r -a b <<<"$cpu_now"
  cpu[$1.total]=$((${cpu[$1.total]:-0} + b[0] - a[0])); cpu[$1.busy]=$((${cpu[$1.busy]:-0} + b[1] - a[1]))
  cpu[$1.service]=$((${cpu[$1.service]:-0} + b[2] - a[2])); cpu[$1.redis]=$((${cpu[$1.redis]:-0} + b[3] - a[3]))
  cpu[$1.tools]=$((${cpu[$1.tools]:-0} + b[4] - a[4]))
}

# Waits for a process just started: CHECK... (a command) every tenth of a second, at most TENTHS
# times, while PID lives. 0 once the check passes; else the process is stopped and the status is 1
# (the caller starts it again, on other ports).
await_ready() { # pid tenths check...
  local pid=$1 tenths=$2 i
  shift 2
  for ((i = 0; i < tenths; i++)); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  stop_pid "$pid"
  return 1
}
redis_answers() { redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG; }
http_200() { [[ $(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null) == 200 ]]; } # url

# ---------------------------------------------------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: work directory $work; load average before: $load_before"

# Redis: no RDB snapshots, no AOF; retried on another port if the chosen one got taken.
for _ in 1 2 3; do
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work" --logfile "$work/redis.log" --daemonize no &
  redis_pid=$!
  await_ready "$redis_pid" 50 redis_answers && break
  redis_pid=""
done
[[ -n $redis_pid ]] || die "redis-server did not start (see $work/redis.log)"
redis_version=$(redis-cli -p "$redis_port" info server | awk -F: '/^redis_version:/{print $2}' | tr -d '\r')

# An API key with every scope, in a key file in the work directory.
"$binary" hash-key --name bench --scopes take,call,read >"$work/hash-key.out"
api_key=$(grep -v '^#' "$work/hash-key.out" | sed -n 1p)
grep -v '^#' "$work/hash-key.out" | sed -n 2p >"$work/api-keys"
[[ -n $api_key && -s $work/api-keys ]] || die "cannot parse the output of '$binary hash-key'"

# The service: default threads, access log ON, stdout and stderr to a file as a container
# runtime would store them; no cap on the queue's length (a million by default, which 20 s of
# takes pass on a fast machine: the refusals would be counted as takes).
for _ in 1 2 3; do
  api_port=$(free_port); admin_port=$(free_port)
  [[ $api_port != "$admin_port" ]] || continue
  "$binary" --redis-host 127.0.0.1 --redis-port "$redis_port" --queue-name "$queue" \
    --listen "127.0.0.1:$api_port" --admin-listen "127.0.0.1:$admin_port" \
    --api-keys-file "$work/api-keys" --access-log=true --max-queue-length 0 >"$work/service.log" 2>&1 &
  service_pid=$!
  await_ready "$service_pid" 100 http_200 "http://127.0.0.1:$admin_port/readyz" && break
  service_pid=""
done
[[ -n $service_pid ]] || { tail -5 "$work/service.log" >&2; die "waitline did not become ready"; }
measured_pid=$service_pid
build_info=$(curl -s "http://127.0.0.1:$admin_port/metrics" | grep '^waitline_build_info' || true)
version=$(sed -n 's/.*version="\([^"]*\)".*/\1/p' <<<"$build_info")
revision=$(sed -n 's/.*revision="\([^"]*\)".*/\1/p' <<<"$build_info")
threads=$(sed -n 's/.*"msg":"waitline started".*"threads":\([0-9]*\).*/\1/p' "$work/service.log" | head -1)
echo "bench: redis $redis_version on :$redis_port, waitline ${version:-?} (${revision:-?}) on :$api_port, admin :$admin_port"

# Sanity: the key works for each endpoint before anything is measured.
for probe in "POST /get_ticket" "GET /list_tickets" "POST /call_ticket"; do
  code=$(curl -s -o "$work/probe.out" -w '%{http_code}' -X "${probe% *}" \
    -H "Authorization: Bearer $api_key" "http://127.0.0.1:$api_port${probe#* }")
  [[ $code == 200 ]] || die "$probe answered $code: $(cat "$work/probe.out")"
done

# The original app on the same Redis, its own queue (so that its takes and waitline's do not mix).
for _ in 1 2 3; do
  original_port=$(free_port)
  "$python" "$here/original_app.py" --redis-port "$redis_port" --queue-name original --port "$original_port" \
    >"$work/original.log" 2>&1 &
  original_pid=$!
  await_ready "$original_pid" 100 http_200 "http://127.0.0.1:$original_port/list_tickets" && break
  original_pid=""
done
[[ -n $original_pid ]] || { tail -5 "$work/original.log" >&2; die "the original app did not start"; }
original_versions=$("$python" -c 'import fastapi, uvicorn, redis; print(f"FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__}, redis-py {redis.__version__}")')
echo "bench: the original app on :$original_port ($original_versions)"

# ---------------------------------------------------------------------------------------------
# The ceiling: redis-benchmark on the same server, same connection count, no pipelining. Its
# request count is sized from a short calibration so that each test lasts about
# BENCH_REDIS_SECONDS. Its keys (counter:*, mylist) are not the service's.
run_child 60 redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "$connections" -n 50000 -t incr --csv \
  >"$work/redis-calibrate.csv"
calib=$(rb_rps "$work/redis-calibrate.csv" INCR 2)
[[ -n $calib ]] || die "cannot parse redis-benchmark output: $(cat "$work/redis-calibrate.csv")"
redis_requests=$(awk -v r="$calib" -v s="$redis_seconds" 'BEGIN {n = int(r * s / 10000) * 10000; if (n < 50000) n = 50000; print n}')
echo "bench: $rounds rounds; redis-benchmark -c $connections -n $redis_requests -t incr,lpush,rpop (calibrated at $calib INCR/s)"
declare -A ceil # <round>.INCR.rps, <round>.INCR.p50 (ms), <round>.INCR.p99 (ms), ...
run_ceiling() { # round
  local t
  cpu_begin
  run_child $((redis_seconds * 12 + 60)) redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "$connections" \
    -n "$redis_requests" -t incr,lpush,rpop --csv >"$work/redis-benchmark-$1.csv"
  cpu_end ceiling
  for t in INCR LPUSH RPOP; do
    ceil[$1.$t.rps]=$(rb_rps "$work/redis-benchmark-$1.csv" "$t" 2)
    [[ -n ${ceil[$1.$t.rps]} ]] || die "redis-benchmark gave no $t figure: $(cat "$work/redis-benchmark-$1.csv")"
    ceil[$1.$t.p50]=$(rb_rps "$work/redis-benchmark-$1.csv" "$t" 5)
    ceil[$1.$t.p99]=$(rb_rps "$work/redis-benchmark-$1.csv" "$t" 7)
  done
  redis-cli -p "$redis_port" del mylist >/dev/null
}

# The service, one endpoint at a time.
llen() { redis-cli -p "$redis_port" llen "queue_$queue" | tr -d '\r'; }
declare -A res # <round>.<endpoint>.<figure>
measure() { # round name method path [port script]: waitline's by default, or the original app's
  local r=$1 name=$2 path=$4 port=${5:-$api_port} script=${6:-$2}
  local before after
  before=$(llen)
  echo "bench: round $r/$rounds, wrk $name: $3 $path, ${duration}s, $connections connections, $wrk_threads threads"
  cpu_begin
  BENCH_API_KEY=$api_key run_child $((duration + 30)) wrk -t "$wrk_threads" -c "$connections" \
    -d "${duration}s" --latency -s "$here/$script.lua" "http://127.0.0.1:$port$path" \
    >"$work/wrk-$name-$r.out" 2>&1 || die "wrk $name failed: $(tail -5 "$work/wrk-$name-$r.out")"
  cpu_end "$name"
  after=$(llen)
  wrk_figures "$work/wrk-$name-$r.out" res "$r.$name."
  res[$r.$name.queue_before]=$before
  res[$r.$name.queue_after]=$after
  res[$r.$name.socket_errors]=$((${res[$r.$name.connect_errors]} + ${res[$r.$name.read_errors]} + ${res[$r.$name.write_errors]} + ${res[$r.$name.timeouts]}))
}
for ((r = 1; r <= rounds; r++)); do
  run_ceiling "$r"
  measure "$r" take POST /get_ticket
  measure "$r" list GET /list_tickets
  measure "$r" call POST /call_ticket
  measured_pid=$original_pid
  measure "$r" original_take GET /get_ticket "$original_port" original
  measure "$r" original_list GET /list_tickets "$original_port" original
  measured_pid=$service_pid
done
stop_pid "$original_pid"; original_pid=""

# Peak resident memory of the service, then stop it before describing the machine.
vmhwm_kb=$(awk '/^VmHWM:/{print $2}' "/proc/$service_pid/status")
vmrss_kb=$(awk '/^VmRSS:/{print $2}' "/proc/$service_pid/status")
stop_pid "$service_pid"; service_pid=""
log_lines=$(grep -c '"request_id"' "$work/service.log" || true)
log_bytes=$(stat -c %s "$work/service.log")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# The same service as users meet it: through the proxy of the Swarm stack, next to it measured
# directly in its container (scripts/bench/proxy.sh deploys its own project and removes it).
proxy_status=0
if [[ ${BENCH_PROXY:-1} == 1 ]]; then
  echo "bench: proxy section (scripts/bench/proxy.sh)"
  "$here/proxy.sh" "$work/proxy.md" || proxy_status=$?
fi

# Live events: 10,000 streams on one process (its own Redis and service; all on loopback).
events_status=0
if [[ ${BENCH_EVENTS:-1} == 1 ]]; then
  echo "bench: live events section (scripts/bench/events.sh)"
  "$here/events.sh" "$binary" "$(dirname "$binary")/../tests/bench/event_fanout" "$work/events.md" ||
    events_status=$?
fi

cpu_model=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
cores=$(nproc)
kernel=$(uname -sr)
when=$(date -u '+%Y-%m-%d %H:%M UTC')
wrk_version=$(wrk -v 2>&1 | awk 'NR==1{print $2}' || true)

# ---------------------------------------------------------------------------------------------
# Figures and goals (calc, ms, num and median: scripts/lib.sh).
pct() { calc "printf \"%.0f %%\", 100 * $1 / $2"; }
ratio() { calc "printf \"%.2f\", $1 / $2"; }
ge() { calc "exit !($1 >= $2)"; }

of_rounds() { # key (after "<round>."), array name -> that figure of every round
  local -n of=$2
  local r
  for ((r = 1; r <= rounds; r++)); do echo "${of[$r.$1]}"; done
}
sum_of() { of_rounds "$@" | awk '{n += $1} END {print n}'; }
slashed() { paste -sd/ | sed 's|/| / |g'; } # stdin's lines as "a / b / c"

# Each figure of the document from the rounds: req/s, p50, p99 and the ceiling their medians, the
# ratio the median of each round's own ratio, counts their sums.
declare -A ceil_of=([take]=INCR [list]=INCR [call]=RPOP)
for t in INCR LPUSH RPOP; do
  for f in rps p50 p99; do ceil[$t.$f]=$(of_rounds "$t.$f" ceil | median); done
done
any_errors=0
for e in take list call original_take original_list; do
  for ((r = 1; r <= rounds; r++)); do
    case $e in
      original_*) res[$r.$e.ratio]=$(ratio "${res[$r.${e#original_}.rps]}" "${res[$r.$e.rps]}") ;;  # waitline ÷ original
      *) res[$r.$e.ratio]=$(ratio "${res[$r.$e.rps]}" "${ceil[$r.${ceil_of[$e]}.rps]}") ;;
    esac
  done
  res[$e.ratio]=$(ratio "$(of_rounds "$e.ratio" res | median)" 1)
  res[$e.ratios]=$(of_rounds "$e.ratio" res | slashed)
  res[$e.rps]=$(of_rounds "$e.rps" res | median)
  res[$e.p50_us]=$(of_rounds "$e.p50_us" res | median)
  res[$e.p99_us]=$(of_rounds "$e.p99_us" res | median)
  res[$e.p99s]=$(of_rounds "$e.p99_us" res | while read -r us; do ms "$us"; echo; done | slashed)
  for f in requests non2xx socket_errors; do res[$e.$f]=$(sum_of "$e.$f" res); done
  (( ${res[$e.non2xx]} + ${res[$e.socket_errors]} == 0 )) || any_errors=1
done
vmhwm_mib=$(calc "printf \"%.1f\", $vmhwm_kb / 1024")

goals=() # "goal|measured|met"
verdict() { if "$@"; then echo met; else echo "**missed**"; fi; }
# list at least 0.40 × INCR; take and call no slower than their reference (0.41 × INCR,
# 0.46 × RPOP). The ratios are the medians of the rounds.
goals+=("take ≥ 0.41 × INCR ceiling|${res[take.ratio]} ×|$(verdict ge "${res[take.ratio]}" 0.41)")
goals+=("list ≥ 0.40 × INCR ceiling|${res[list.ratio]} ×|$(verdict ge "${res[list.ratio]}" 0.40)")
goals+=("call ≥ 0.46 × RPOP ceiling|${res[call.ratio]} ×|$(verdict ge "${res[call.ratio]}" 0.46)")
for e in take list call; do
  goals+=("$e p99 ≤ 5 ms|$(ms "${res[$e.p99_us]}") ms|$(verdict ge 5000 "${res[$e.p99_us]}")")
done
goals+=("peak RSS ≤ 30 MiB|$vmhwm_mib MiB|$(verdict ge 30720 "$vmhwm_kb")")
missed=0
for g in "${goals[@]}"; do [[ $g == *missed* ]] && missed=$((missed + 1)); done

# ---------------------------------------------------------------------------------------------
# The document.
calls_served=$(($(sum_of call.queue_before res) - $(sum_of call.queue_after res)))
queue_emptied=0
of_rounds call.queue_after res | grep -qx 0 && queue_emptied=1
list_queue_min=$(of_rounds list.queue_before res | sort -g | head -1)
{
  echo "# Benchmarks"
  echo
  echo "<!-- Generated by scripts/bench/bench.sh on $when; do not edit by hand: run \`make bench\`. -->"
  echo
  echo "What one waitline process serves on this machine against a real Redis, next to what Redis"
  echo "itself serves to a non-pipelined client with as many connections (the *ceiling*: the service"
  echo "cannot beat the database it waits on), and next to the original Python app, measured in the"
  echo "same run. Everything on this page was measured by that one run."
  echo
  echo "Reproduce with \`make bench\` (it builds, then runs \`scripts/bench/bench.sh build/src/waitline\`)."
  echo "The script starts its own \`redis-server\` (no persistence: \`--save \"\"\`, no AOF) and one"
  echo "service on free loopback ports, with an API key of scopes take, call and read, default worker"
  echo "threads ($threads here) and the **access log on**, its stdout written to a file as a container"
  echo "runtime would ($(num "$log_lines") JSON lines, $(calc "printf \"%.0f\", $log_bytes / 1048576") MiB in this run), so its cost is included."
  echo "Then, on the same Redis server, $rounds rounds of:"
  echo
  echo "1. \`redis-benchmark -c $connections -n $(num "$redis_requests") -t incr,lpush,rpop --csv\` (no pipelining; the"
  echo "   request count is sized so that each test lasts about ${redis_seconds} s);"
  echo "2. \`wrk -t $wrk_threads -c $connections -d ${duration}s --latency\` on each endpoint in turn, with the Lua"
  echo "   scripts in \`scripts/bench/\` (method, \`Authorization: Bearer\` header, and a \`done()\` that"
  echo "   prints the figures the script parses):"
  echo "   - **take**: \`POST /get_ticket\` (one Lua script in Redis: INCR, LPUSH, LLEN);"
  echo "   - **list**: \`GET /list_tickets\` with the default limit (100) on the queue that take filled"
  echo "     (at least $(num "$list_queue_min") tickets waiting), so each answer carries 100 ticket numbers: the realistic"
  echo "     case of a screen showing a long queue, not an empty list (one Redis transaction: LLEN, LRANGE);"
  echo "   - **call**: \`POST /call_ticket\`, draining the queue take filled."
  echo
  echo "wrk, redis-benchmark, Redis and the service share the machine's $cores cores (the original app too,"
  echo "in its phases). Ratios compare requests per second to the ceiling named in each row, measured"
  echo "in the same round (the machine's state drifts between minutes: a ratio across rounds would carry"
  echo "that drift). Below, req/s, p50, p99 and the ceiling are the median of the rounds, the ratio the"
  echo "median of the rounds' own ratios (each listed), and counts are summed."
  echo
  if ((any_errors)); then
    echo "> **This run saw errors** (non-2xx answers or socket errors, below): its figures are not a"
    echo "> valid measurement of the service's normal operation."
    echo
  fi
  echo "## Results"
  echo
  echo "| endpoint | requests | req/s | p50 | p99 | ceiling used | ratio to ceiling | ratio in each round | p99 in each round (ms) | non-2xx | socket errors |"
  echo "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
  for e in take list call; do
    echo "| $e | $(num "${res[$e.requests]}") | $(num "${res[$e.rps]}") | $(ms "${res[$e.p50_us]}") ms | $(ms "${res[$e.p99_us]}") ms | ${ceil_of[$e]} ($(num "${ceil[${ceil_of[$e]}.rps]}")/s) | ${res[$e.ratio]} × | ${res[$e.ratios]} | ${res[$e.p99s]} | ${res[$e.non2xx]} | ${res[$e.socket_errors]} |"
  done
  echo
  echo "Non-2xx is wrk's count of answers with a status of 400 or more; socket errors add its connect,"
  echo "read, write and timeout (over 2 s) errors."
  if ((queue_emptied && calls_served < ${res[call.requests]})); then
    echo "The call phases emptied the queue: $(num "$calls_served") of their $(num "${res[call.requests]}") calls got a ticket; the others"
    echo "answered \`Queue is empty\` (200, an RPOP that finds nothing)."
  else
    echo "Every call got a ticket."
  fi
  echo
  echo "### The ceiling: Redis alone"
  echo
  echo "The median of the rounds:"
  echo
  echo "| command | req/s | p50 | p99 |"
  echo "|---|---:|---:|---:|"
  for t in INCR LPUSH RPOP; do
    echo "| $t | $(num "${ceil[$t.rps]}") | ${ceil[$t.p50]} ms | ${ceil[$t.p99]} ms |"
  done
  echo
  echo "redis-benchmark drives its connections from one thread (wrk from $wrk_threads). During the ceiling it"
  echo "used $(pct "${cpu[ceiling.tools]}" "${cpu[ceiling.total]}") of the machine and Redis $(pct "${cpu[ceiling.redis]}" "${cpu[ceiling.total]}") (one core is $(calc "printf \"%.0f\", 100 / $cores") %): when the"
  echo "client is the busier of the two, the ceiling is what one client thread gets from Redis on this"
  echo "CPU, the measure the goals were set with, not the most Redis could serve."
  echo
  echo "## Goals"
  echo
  echo "| goal | measured | |"
  echo "|---|---:|---|"
  for g in "${goals[@]}"; do echo "| ${g//|/ | } |"; done
  echo
  echo "wrk keeps its $connections connections busy (closed loop), so by Little's law the mean latency is"
  echo "about $connections ÷ throughput: a p99 of 5 ms needs well over $(num "$(calc "print $connections / 0.005")") req/s. The ceiling's own"
  echo "p99 (Redis alone, above, measured in the same run) shows what the machine allows."
  echo
  if ((missed)); then
    echo "$missed goal(s) missed in this run."
  else
    echo "Every goal met in this run."
  fi
  echo
  echo "## Against the original Python app"
  echo
  echo "The original application rebuilt from its documented behaviour (\`scripts/bench/original_app.py\`:"
  echo "$original_versions from Debian; one uvicorn worker, synchronous redis-py in plain"
  echo "handlers, its access log on as waitline's is), on the same Redis with a queue of its own, measured"
  echo "in each round right after waitline, with the same wrk settings ($connections connections, plain GET as it served"
  echo "them). Its \`/list_tickets\` answers a count only (one LLEN); waitline's carries up to 100 tickets."
  echo
  echo "| endpoint | original req/s | original p99 | waitline req/s | waitline p99 | waitline ÷ original | in each round | original CPU per request |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for e in take list; do
    o=original_$e
    echo "| $e | $(num "${res[$o.rps]}") | $(ms "${res[$o.p99_us]}") ms | $(num "${res[$e.rps]}") | $(ms "${res[$e.p99_us]}") ms | **${res[$o.ratio]} ×** | ${res[$o.ratios]} | $(calc "printf \"%.0f\", ${cpu[$o.service]} * 1e6 / $clk_tck / ${res[$o.requests]}") µs |"
  done
  echo
  echo "## Memory"
  echo
  echo "Peak resident set of the service (VmHWM in \`/proc/<pid>/status\`, read after the last phase):"
  echo "**$vmhwm_mib MiB** ($(num "$vmhwm_kb") kB; $(calc "printf \"%.1f\", $vmrss_kb / 1024") MiB resident at that moment)."
  echo
  echo "## How much of the machine the benchmark had"
  echo
  echo "Share of the machine's CPU time ($cores cores = 100 %) during each phase, from \`/proc/stat\` and"
  echo "\`/proc/<pid>/stat\`. *Other processes* is what the machine spent on anything but this benchmark:"
  echo "when it is large, the figures above understate what the service can do. *Service CPU per request*"
  echo "(user + system time of the service over the requests it answered; ${clk_tck} Hz ticks, so approximate)"
  echo "depends much less on the machine's other load than req/s does."
  echo
  echo "| phase | machine busy | service (waitline or the original) | Redis | wrk / redis-benchmark | other processes | service CPU per request |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for ph in ceiling take list call original_take original_list; do
    t=${cpu[$ph.total]}
    ((t > 0)) || continue
    other=$(( ${cpu[$ph.busy]} - ${cpu[$ph.service]} - ${cpu[$ph.redis]} - ${cpu[$ph.tools]} ))
    ((other > 0)) || other=0
    per_request="–"
    [[ $ph == ceiling ]] || per_request="$(calc "printf \"%.0f\", ${cpu[$ph.service]} * 1e6 / $clk_tck / ${res[$ph.requests]}") µs"
    echo "| ${ph/_/ } | $(pct "${cpu[$ph.busy]}" "$t") | $(pct "${cpu[$ph.service]}" "$t") | $(pct "${cpu[$ph.redis]}" "$t") | $(pct "${cpu[$ph.tools]}" "$t") | $(pct "$other" "$t") | $per_request |"
  done
  echo
  if [[ -s $work/events.md ]]; then
    cat "$work/events.md"
    echo
  elif [[ ${BENCH_EVENTS:-1} == 1 ]]; then
    echo "## Live events"
    echo
    echo "Not measured in this run: \`scripts/bench/events.sh\` failed (exit status $events_status)."
    echo
  fi
  if [[ -s $work/proxy.md ]]; then
    cat "$work/proxy.md"
    echo
  elif [[ ${BENCH_PROXY:-1} == 1 ]]; then
    echo "## Through the proxy (Swarm stack)"
    echo
    echo "Not measured in this run: \`scripts/bench/proxy.sh\` failed (exit status $proxy_status)."
    echo
  fi
  echo "## Machine"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| date | $when |"
  echo "| CPU | $cpu_model, $cores cores (\`nproc\`) |"
  echo "| kernel | $kernel |"
  echo "| load average (1, 5, 15 min) | before $load_before; after $load_after |"
  echo "| waitline | ${version:-unknown}, revision ${revision:-unknown} (\`waitline_build_info\`), $threads worker threads |"
  echo "| Redis | $redis_version |"
  echo "| wrk | ${wrk_version:-unknown} |"
  echo
  echo "The load average shows whether other work shared the machine during the run; figures taken"
  echo "on a busy machine are lower than the service's capacity."
} >"$work/benchmarks.md"
mkdir -p "$(dirname "$output")"
mv "$work/benchmarks.md" "$output"

# ---------------------------------------------------------------------------------------------
echo
echo "waitline ${version:-?} (${revision:-?}), $cores cores, load $load_before -> $load_after"
printf '%-6s %10s %9s %9s %14s %8s %7s\n' endpoint req/s p50_ms p99_ms ratio non2xx sockerr
for e in take list call; do
  printf '%-6s %10.0f %9s %9s %8s×%-5s %8s %7s\n' "$e" "${res[$e.rps]}" "$(ms "${res[$e.p50_us]}")" \
    "$(ms "${res[$e.p99_us]}")" "${res[$e.ratio]}" "${ceil_of[$e]}" "${res[$e.non2xx]}" "${res[$e.socket_errors]}"
done
printf 'ceiling: INCR %.0f/s, LPUSH %.0f/s, RPOP %.0f/s; peak RSS %s MiB\n' \
  "${ceil[INCR.rps]}" "${ceil[LPUSH.rps]}" "${ceil[RPOP.rps]}" "$vmhwm_mib"
printf 'CPU share of the machine (busy / service / redis / tools / other):'
for ph in ceiling take list call; do
  t=${cpu[$ph.total]}; ((t > 0)) || continue
  other=$(( ${cpu[$ph.busy]} - ${cpu[$ph.service]} - ${cpu[$ph.redis]} - ${cpu[$ph.tools]} )); ((other > 0)) || other=0
  printf ' %s %s/%s/%s/%s/%s;' "$ph" "$(pct "${cpu[$ph.busy]}" "$t")" "$(pct "${cpu[$ph.service]}" "$t")" \
    "$(pct "${cpu[$ph.redis]}" "$t")" "$(pct "${cpu[$ph.tools]}" "$t")" "$(pct "$other" "$t")"
done
echo
for e in take list; do
  printf 'original %s: %.0f req/s, p99 %s ms; waitline %s x the original\n' "$e" "${res[original_$e.rps]}" \
    "$(ms "${res[original_$e.p99_us]}")" "${res[original_$e.ratio]}"
done
for g in "${goals[@]}"; do IFS='|' read -r goal measured met <<<"$g"; printf '  %-28s %-10s %s\n' "$goal" "$measured" "${met//\*/}"; done
echo "wrote $output"
((any_errors == 0 && proxy_status == 0 && events_status == 0)) || { echo "bench: errors during the run (see the document)" >&2; exit 1; }
