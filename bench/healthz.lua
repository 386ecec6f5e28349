-- wrk script: GET /healthz (no tenant, no database).
--   wrk -t2 -c64 -d10s --latency -s bench/healthz.lua http://127.0.0.1:PORT
wrk.method = "GET"
wrk.path = "/healthz"
wrk.headers["Accept"] = "application/json"
