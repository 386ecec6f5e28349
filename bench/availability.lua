-- wrk script: GET /api/public/availability for one room and one week.
--   BENCH_HOST  Host header naming the studio, e.g. benchbook.localhost:8080
--   BENCH_PATH  the path and query, e.g.
--               /api/public/availability?room_id=UUID&from=2026-11-27&to=2026-12-04
--   wrk -t2 -c50 -d15s --latency -s bench/availability.lua http://127.0.0.1:PORT
-- Non-2xx answers show in wrk's own "Non-2xx or 3xx responses" line.
local host = os.getenv("BENCH_HOST")
local path = os.getenv("BENCH_PATH")
if not host or host == "" or not path or path == "" then
  io.stderr:write("availability.lua: set BENCH_HOST and BENCH_PATH\n")
  os.exit(2)
end
wrk.method = "GET"
wrk.path = path
wrk.headers["Host"] = host
wrk.headers["Accept"] = "application/json"
