-- wrk script: POST /login with a correct JSON e-mail and password.
--   BENCH_HOST      Host header naming the studio, e.g. bench.localhost:8080
--   BENCH_EMAIL     default owner@bench.test
--   BENCH_PASSWORD  default benchbench123
--   wrk -t2 -c8 -d10s --latency -s bench/login.lua http://127.0.0.1:PORT
-- Throttling counts failed sign-ins only, so these are never throttled.
local host = os.getenv("BENCH_HOST")
if not host or host == "" then
  io.stderr:write("login.lua: set BENCH_HOST\n")
  os.exit(2)
end
local email = os.getenv("BENCH_EMAIL") or "owner@bench.test"
local password = os.getenv("BENCH_PASSWORD") or "benchbench123"

-- JSON string literal (the values are plain, but quote them properly anyway).
local function jstr(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

wrk.method = "POST"
wrk.path = "/login"
wrk.headers["Host"] = host
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.body = '{"email":' .. jstr(email) .. ',"password":' .. jstr(password) .. '}'
