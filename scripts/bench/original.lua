-- wrk script: the original app's endpoints as it served them, a plain GET with no key (its take
-- and call change state on GET); scripts/bench/bench.sh runs it on /get_ticket and /list_tickets.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
wrk.method = "GET"
