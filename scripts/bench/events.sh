#!/usr/bin/env bash
# The live events section of `make bench` (scripts/bench/bench.sh runs it): one waitline process holding
# 10,000 event streams on one queue, against a real Redis, all on 127.0.0.1.
#
#   scripts/bench/events.sh <waitline-binary> <event_fanout-binary> <markdown-out>
#
# Two kinds of streams, each in a fresh process (so that its memory is the streams'):
#   phones   10,000 visitors' ticket streams (GET /tickets/{n}/events): what a waiting room holds;
#   screens  10,000 queue streams (GET /events, every event type).
# For each: the resident memory with the streams open; the time from a call's answer to its event
# on every stream (tests/bench/event_fanout.cpp, 20 calls); take's throughput with the streams
# open (two runs), against take's without (wrk, POST /get_ticket; a run before the streams open
# and one after they close, so that the machine's drift weighs on both). Then GET /tickets/{n}
# (visitors' statuses, wrk) against Redis's own INCR ceiling (redis-benchmark), as take is
# measured: in rounds, each the ceiling then the status, the figures their medians.
# Environment: BENCH_DURATION (10) seconds of wrk, BENCH_CONNECTIONS (64), BENCH_THREADS (2),
# BENCH_STREAMS (10000), BENCH_CALLS (20), BENCH_STATUS_ROUNDS (5) of the status: more than take's
# three, as one 10 s run on a shared machine varies by more than the goal's margin. Prints a
# summary; exit 1 when a measurement failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../lib.sh" bench-events 2
[[ $# -eq 3 ]] || die "usage: $0 <waitline-binary> <event_fanout-binary> <markdown-out>"
binary=$(realpath "$1"); fanout=$(realpath "$2"); output=$3
[[ -x $binary && -x $fanout ]] || die "$1 or $2 is not an executable"
duration=${BENCH_DURATION:-10}
connections=${BENCH_CONNECTIONS:-64}
wrk_threads=${BENCH_THREADS:-2}
streams=${BENCH_STREAMS:-10000}
calls=${BENCH_CALLS:-20}
rounds=${BENCH_STATUS_ROUNDS:-5}
for tool in wrk redis-server redis-cli redis-benchmark curl awk; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/setup/install-deps.sh installs it)"
done
# Each process holds one descriptor per stream, and some more.
(( $(ulimit -Hn) > streams + 1000 )) || die "the descriptor limit ($(ulimit -Hn)) is below $streams streams"
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d "${TMPDIR:-/tmp}/waitline-bench-events.XXXXXX")
redis_pid="" service_pid="" fanout_pid=""
cleanup() {
  local status=$?
  trap - EXIT
  stop_pid "$child_pid"; stop_pid "$fanout_pid" 100; stop_pid "$service_pid" 100; stop_pid "$redis_pid" 100
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "bench-events: work directory kept: $work" >&2; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT

ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz") == 200 ]]; }
# The sum of the service's series whose line matches the regular expression (its admin port).
metric_total() { curl -s "http://127.0.0.1:$admin_port/metrics" | awk -v re="$1" '$0 ~ re {n += $2} END {print n + 0}'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  --logfile "$work/redis.log" --daemonize no &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
"$binary" hash-key --name bench --scopes take,call,read >"$work/key.out"
key=$(grep -v '^#' "$work/key.out" | sed -n 1p)
grep -v '^#' "$work/key.out" | sed -n 2p >"$work/keys"
printf '%s\n' "$(openssl rand -hex 32)" >"$work/secret"

# A fresh service on an empty queue: the settings of the main benchmark, room for the streams.
start_service() {
  stop_pid "$service_pid" 100; service_pid=""
  redis-cli -p "$redis_port" flushall >/dev/null
  api_port=$(free_port); admin_port=$(free_port)
  "$binary" --redis-port "$redis_port" --queue-name bench --listen "127.0.0.1:$api_port" \
    --admin-listen "127.0.0.1:$admin_port" --api-keys-file "$work/keys" --ticket-secret-file "$work/secret" \
    --max-queue-length 0 --max-event-streams $((streams + 100)) --max-connections $((streams + 1000)) \
    >"$work/service.log" 2>&1 &
  service_pid=$!
  for _ in $(seq 100); do ready "$admin_port" && return; sleep 0.1; done
  die "waitline did not become ready: $(tail -3 "$work/service.log")"
}

declare -A wrk_result
wrk_run() { # name url script: wrk's figures into wrk_result (rps, p99_us, non2xx...); raw output in $work
  BENCH_API_KEY=$key run_wrk "$work/wrk-$1.out" wrk_result "" $((duration + 30)) \
    wrk -t "$wrk_threads" -c "$connections" -d "${duration}s" --latency -s "$here/$3.lua" "$2"
  ((wrk_result[non2xx] == 0)) || die "wrk $1: ${wrk_result[non2xx]} answers were not 2xx"
}

# The two kinds of streams, and what the document calls them.
kinds=(ticket queue)
declare -A shown_as=([ticket]=phones [queue]=screens)

# One scenario: streams open, calls measured, take measured with them; figures into scenario[kind.*].
declare -A scenario
run_scenario() { # kind (ticket|queue)
  local kind=$1 before line p50 p99 max deliveries missing
  echo "bench-events: ${shown_as[$kind]}: $streams $kind streams, $calls calls"
  start_service
  before=$(rss_kib "$service_pid")
  wrk_run "take-alone-$kind" "http://127.0.0.1:$api_port/get_ticket" take
  local alone_before=${wrk_result[rps]}
  redis-cli -p "$redis_port" del queue_bench taken_at_bench >/dev/null  # the calls call the fanout's tickets
  coproc FANOUT { "$fanout" --port "$api_port" --key "$key" --streams "$streams" --kind "$kind" --calls "$calls" 2>&1; }
  fanout_pid=${FANOUT_PID:?}
  while IFS= read -r -t 600 line <&"${FANOUT[0]}"; do
    echo "$line" >>"$work/fanout-$kind.out"
    case $line in
      "ready "*) scenario[$kind.rss_mib]=$(calc "printf \"%.1f\", $(rss_kib "$service_pid") / 1024")
                 scenario[$kind.rss_before_mib]=$(calc "printf \"%.1f\", $before / 1024") ;;
      "latency "*) read -r _ p50 p99 max _ deliveries _ missing _ <<<"$line"
                   scenario[$kind.p50]=$p50 scenario[$kind.p99]=$p99 scenario[$kind.max]=$max
                   scenario[$kind.deliveries]=$deliveries scenario[$kind.missing]=$missing ;;
      "answer "*) read -r _ p50 p99 _ <<<"$line"
                  scenario[$kind.answer]="$p50 / $p99" ;;
      holding) break ;;
    esac
  done
  [[ -n ${scenario[$kind.p99]:-} ]] || die "event_fanout ($kind) stopped early: $(tail -3 "$work/fanout-$kind.out")"
  wrk_run "take-with-$kind-1" "http://127.0.0.1:$api_port/get_ticket" take
  local with_1=${wrk_result[rps]}
  wrk_run "take-with-$kind-2" "http://127.0.0.1:$api_port/get_ticket" take
  local with_2=${wrk_result[rps]}
  local input=${FANOUT[1]}
  exec {input}>&-  # event_fanout stops holding when its input closes
  read -r -t 60 line <&"${FANOUT[0]}" && echo "$line" >>"$work/fanout-$kind.out"
  scenario[$kind.held]=$(awk '/^held/ {print $2}' "$work/fanout-$kind.out")
  wait "$fanout_pid" 2>/dev/null || true
  fanout_pid=""
  # Take alone again once the service has let the streams go: the machine's drift during the
  # scenario weighs on both sides of the ratio, not on one.
  for _ in $(seq 120); do
    [[ $(metric_total '^waitline_event_streams[{]') == 0 ]] && break
    sleep 0.5
  done
  wrk_run "take-alone-$kind-after" "http://127.0.0.1:$api_port/get_ticket" take
  local alone_after=${wrk_result[rps]}
  scenario[$kind.take_alone]=$(calc "printf \"%.1f\", ($alone_before + $alone_after) / 2")
  scenario[$kind.take_with]=$(calc "printf \"%.1f\", ($with_1 + $with_2) / 2")
  scenario[$kind.take_runs]="alone $(num "$alone_before") and $(num "$alone_after"), with $(num "$with_1") and $(num "$with_2")"
  scenario[$kind.slow]=$(metric_total '^waitline_event_streams_closed_total[{].*reason="slow"')
  scenario[$kind.ratio]=$(calc "printf \"%.3f\", ${scenario[$kind.take_with]} / ${scenario[$kind.take_alone]}")
}

for kind in "${kinds[@]}"; do run_scenario "$kind"; done

# A visitor's status, against the INCR ceiling measured just before it, in each round. As in
# bench.sh: req/s, p99 and the ceiling their medians, the ratio the median of the rounds' own.
# The statuses of 1,000 visitors' tickets in turn, as a waiting room's phones ask for their own.
start_service
visitors=1000
takes=()
for ((i = 0; i < visitors; i++)); do takes+=("http://127.0.0.1:$api_port/get_ticket"); done
curl -s -X POST -H "Authorization: Bearer $key" "${takes[@]}" | grep -o '"ticket_url":"[^"]*"' |
  sed 's/^"ticket_url":"\(.*\)"$/\1/' >"$work/ticket-paths"
(($(wc -l <"$work/ticket-paths") == visitors)) || die "$visitors takes gave $(wc -l <"$work/ticket-paths") ticket_url"
export BENCH_TICKET_PATHS=$work/ticket-paths
declare -a round_incr round_rps round_p99 round_ratio
for ((r = 1; r <= rounds; r++)); do
  echo "bench-events: status round $r/$rounds"
  redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "$connections" -n 300000 -t incr --csv \
    >"$work/redis-benchmark-$r.csv"
  round_incr[r]=$(rb_rps "$work/redis-benchmark-$r.csv" INCR 2)
  wrk_run "status-$r" "http://127.0.0.1:$api_port/" status
  round_rps[r]=${wrk_result[rps]}
  round_p99[r]=${wrk_result[p99_us]}
  round_ratio[r]=$(calc "printf \"%.3f\", ${round_rps[r]} / ${round_incr[r]}")
done
incr=$(printf '%s\n' "${round_incr[@]}" | median)
status_rps=$(printf '%s\n' "${round_rps[@]}" | median)
status_p99_us=$(printf '%s\n' "${round_p99[@]}" | median)
status_ratio=$(calc "printf \"%.3f\", $(printf "%s\n" "${round_ratio[@]}" | median)")

met() { if awk "BEGIN {exit !($1)}"; then echo met; else echo "**missed**"; fi; }
{
  echo "## Live events: $(num "$streams") streams on one process"
  echo
  echo "One process, a fresh one for each kind of stream, against the same Redis (no persistence), its"
  echo "settings those of the service above plus room for the streams (\`--max-event-streams\`,"
  echo "\`--max-connections\`). \`tests/bench/event_fanout.cpp\` opens the streams (200 at a time, each"
  echo "until its first event), then makes $calls calls one after the other, each measured from the moment"
  echo "its answer is read to the moment each stream has the event it caused (the call's own time, request"
  echo "written to answer read, is the desk's wait), then holds the streams"
  echo "open, reading, while wrk takes tickets twice for ${duration} s: $(num "$connections") connections, $wrk_threads threads. Take alone is"
  echo "measured in the same process just before the streams open and again once they are closed, so that"
  echo "the machine's drift weighs on both sides: each figure below is the mean of its two runs. One client"
  echo "thread reads every stream: on the machine's cores it competes with the service, so latencies"
  echo "include its own queueing."
  echo
  echo "- **phones**: each stream a visitor's ticket (\`GET /tickets/{n}/events\`, $(num "$streams") tickets taken"
  echo "  first): a call changes every phone's place, and each stream works its new status out from the"
  echo "  call's event, without asking Redis; a take changes nothing for a phone and wakes none."
  echo "- **screens**: each stream the queue's (\`GET /events\`, every event type): every take and call is"
  echo "  delivered to all of them."
  echo
  echo "| streams | RSS before → with them | call's event to every stream: p50 / p99 / max | deliveries (missing) | the call's answer: p50 / p99 | take alone | take with them | ratio | still open after | cut off as slow |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for kind in "${kinds[@]}"; do
    echo "| $(num "$streams") ${shown_as[$kind]} | ${scenario[$kind.rss_before_mib]} → **${scenario[$kind.rss_mib]} MiB** | ${scenario[$kind.p50]} / **${scenario[$kind.p99]}** / ${scenario[$kind.max]} ms | $(num "${scenario[$kind.deliveries]}") (${scenario[$kind.missing]}) | ${scenario[$kind.answer]} ms | $(num "${scenario[$kind.take_alone]}") req/s | $(num "${scenario[$kind.take_with]}") req/s | **${scenario[$kind.ratio]} ×** | $(num "${scenario[$kind.held]:-0}") | ${scenario[$kind.slow]} |"
  done
  echo
  for kind in "${kinds[@]}"; do echo "- take's runs with ${shown_as[$kind]} (req/s): ${scenario[$kind.take_runs]}."; done
  echo
  echo "With $(num "$streams") screens, each take is delivered $(num "$streams") times: at $(num "${scenario[queue.take_alone]}") takes a second that is"
  echo "$(num "$(calc "print ${scenario[queue.take_alone]} * $streams")") events a second to write, which no pair of cores writes. The takes and the streams' writes"
  echo "share the service's threads, with no priority between them: takes slow down to what the writes"
  echo "leave. A screen is cut off as slow (and reconnects, resuming from its last event) only when it"
  echo "falls further behind than the events the process keeps for its streams: ${scenario[queue.slow]} of them here."
  echo "A waiting room's real load is the phones' row; a screen that shows calls only asks"
  echo "\`?types=called,recalled\` and then costs what a phone costs."
  echo
  echo "**A visitor's status**, \`GET /tickets/{n}?token=…\` of $(num "$visitors") tickets in turn (statuses asked together are one transaction in Redis: two LINDEX, the pace, their calls),"
  echo "wrk as above, median of $rounds rounds, each after the ceiling (redis-benchmark \`-c $connections\` INCR):"
  echo "$(num "$status_rps") req/s, p99 $(calc "printf \"%.2f\", $status_p99_us / 1000") ms, against $(num "$incr") INCR/s: **$status_ratio ×** (rounds: ${round_ratio[*]})."
  echo
  echo "| goal | measured | |"
  echo "|---|---:|---|"
  for kind in "${kinds[@]}"; do
    echo "| RSS with $(num "$streams") ${shown_as[$kind]} ≤ 150 MiB | ${scenario[$kind.rss_mib]} MiB | $(met "${scenario[$kind.rss_mib]} <= 150") |"
    echo "| a call's event on all $(num "$streams") ${shown_as[$kind]}, p99 ≤ 250 ms | ${scenario[$kind.p99]} ms | $(met "${scenario[$kind.p99]} <= 250 && ${scenario[$kind.missing]} == 0") |"
  done
  for kind in "${kinds[@]}"; do
    echo "| take with $(num "$streams") ${shown_as[$kind]} ≥ 0.8 × alone | ${scenario[$kind.ratio]} × | $(met "${scenario[$kind.ratio]} >= 0.8") |"
  done
  echo "| \`GET /tickets/{n}\` ≥ 0.5 × INCR ceiling | $status_ratio × | $(met "$status_ratio >= 0.5") |"
} >"$output"

for kind in "${kinds[@]}"; do
  printf 'events %-7s RSS %s MiB (from %s), call to all p50/p99/max %s/%s/%s ms, missing %s; answer p50/p99 %s ms; take %s -> %s req/s (%s x), slow %s\n' \
    "$kind" "${scenario[$kind.rss_mib]}" "${scenario[$kind.rss_before_mib]}" "${scenario[$kind.p50]}" \
    "${scenario[$kind.p99]}" "${scenario[$kind.max]}" "${scenario[$kind.missing]}" "${scenario[$kind.answer]}" "${scenario[$kind.take_alone]}" \
    "${scenario[$kind.take_with]}" "${scenario[$kind.ratio]}" "${scenario[$kind.slow]}"
done
printf 'events status GET /tickets/{n}: %s req/s, %s x INCR (%s/s), rounds %s\n' "$status_rps" "$status_ratio" "$incr" "${round_ratio[*]}"
