-- wrk script: a visitor's ticket, GET /tickets/{n}?token=... (the URL on wrk's command line holds
-- both); no key is needed, the one common.lua adds is ignored by that route.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
wrk.method = "GET"
