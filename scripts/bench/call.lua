-- wrk script: call the next ticket, POST /call_ticket (empty body), authenticated.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
wrk.method = "POST"
