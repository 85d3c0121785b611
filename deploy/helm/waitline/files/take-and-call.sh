#!/bin/bash
# `helm test`: take a ticket, then call one, through a queue's Service. Runs in the waitline-redis
# image (Debian, bash, no curl): bash's /dev/tcp is the HTTP client. Also runnable by hand:
#   WAITLINE_URL_HOST=127.0.0.1 WAITLINE_URL_PORT=8000 WAITLINE_TEST_KEY=wl_... bash take-and-call.sh
set -euo pipefail
host=${WAITLINE_URL_HOST:?} port=${WAITLINE_URL_PORT:?} key=${WAITLINE_TEST_KEY:?}

# request METHOD PATH: sets $status and $body (HTTP/1.1, Connection: close, no body sent).
request() {
  local response
  exec 3<>"/dev/tcp/$host/$port"
  printf '%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' \
    "$1" "$2" "$host" "$key" >&3
  response=$(tr -d '\r' <&3)
  exec 3<&-
  status=$(head -1 <<<"$response" | cut -d' ' -f2)
  body=${response#*$'\n\n'}
  echo "$1 $2 -> $status $body"
}

request POST /get_ticket
[[ $status == 200 && $body =~ \"ticket\":([0-9]+) ]] || { echo "take failed" >&2; exit 1; }
request POST /call_ticket
[[ $status == 200 && $body =~ \"ticket\":[0-9]+ ]] || { echo "call failed" >&2; exit 1; }
echo "take and call: ok"
