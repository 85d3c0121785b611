-- wrk script: take a ticket, POST /get_ticket (empty body), authenticated.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
wrk.method = "POST"
