#!/bin/sh
# keepalived's check of an edge node: its proxy answers HTTP on the node's own address (any
# answer: the redirect to HTTPS will do). Two failures in a row and the virtual IP moves away.
#   edge-check.sh ADDRESS PORT
exec curl -s -o /dev/null --max-time 1 "http://$1:$2/"
