-- Shared by take.lua, list.lua and call.lua (loaded with dofile): the API key header, and
-- result.lua's done().
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "result.lua")
local key = os.getenv("BENCH_API_KEY")
if key == nil or key == "" then
  error("BENCH_API_KEY is not set: the bench scripts pass the key they created")
end
wrk.headers["Authorization"] = "Bearer " .. key
