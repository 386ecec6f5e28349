-- wrk script: GET /api/me as a signed-in staff user of one studio.
--   BENCH_HOST    Host header naming the studio, e.g. bench.localhost:8080
--   BENCH_COOKIE  Cookie header, e.g. studiod_session=TOKEN
--   wrk -t2 -c32 -d10s --latency -s bench/me.lua http://127.0.0.1:PORT
local host = os.getenv("BENCH_HOST")
local cookie = os.getenv("BENCH_COOKIE")
if not host or host == "" or not cookie or cookie == "" then
  io.stderr:write("me.lua: set BENCH_HOST and BENCH_COOKIE\n")
  os.exit(2)
end
wrk.method = "GET"
wrk.path = "/api/me"
wrk.headers["Host"] = host
wrk.headers["Cookie"] = cookie
wrk.headers["Accept"] = "application/json"
