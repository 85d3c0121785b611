#!/bin/bash
# `helm test`: list a queue through its Service with a read-only key: proves routing, the key file
# and Redis, and changes nothing (safe on production). Runs in the waitline-redis image (Debian,
# bash, no curl): bash's /dev/tcp is the HTTP client. Also runnable by hand:
#   WAITLINE_URL_HOST=127.0.0.1 WAITLINE_URL_PORT=8000 WAITLINE_TEST_KEY=wl_... bash list-tickets.sh
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

request GET '/list_tickets?limit=1'
[[ $status == 200 && $body =~ \"waiting\":[0-9]+ ]] || { echo "list failed" >&2; exit 1; }
echo "list: ok"
