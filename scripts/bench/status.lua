-- wrk script: visitors' tickets, GET /tickets/{n}?token=..., each request the next of the paths
-- listed in the file BENCH_TICKET_PATHS (one per line, as take answered them: a waiting room's
-- phones each ask for their own ticket); no key is needed, the one common.lua adds is ignored by
-- that route.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local file = os.getenv("BENCH_TICKET_PATHS")
if file == nil or file == "" then
  error("BENCH_TICKET_PATHS is not set: events.sh passes the file of the tickets it took")
end
local paths = {}
for line in io.lines(file) do
  paths[#paths + 1] = line
end
if #paths == 0 then
  error(file .. " lists no ticket")
end
local next_path = 0
function request()
  next_path = next_path % #paths + 1
  return wrk.format("GET", paths[next_path])
end
