-- wrk script: list the queue, GET /list_tickets (default limit 100), authenticated.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
wrk.method = "GET"
