-- wrk script: POST /api/public/booking for random 1-hour slots, as customers
-- booking online would (no session, JSON body).
--   BENCH_HOST        Host header naming the studio, e.g. benchbook.localhost:8080
--   BENCH_ROOMS       the room ids to book, comma-separated (one is picked at
--                     random for each request)
--   BENCH_BASE_EPOCH  a UTC midnight, in seconds since 1970 (today's)
--   BENCH_DAYS        a slot starts on a random day 1..BENCH_DAYS after the
--                     base (default 700)
--   BENCH_CUSTOMERS   the customer is c<N>@bench.test, N random in
--                     1..BENCH_CUSTOMERS (default 100000)
--   wrk -t2 -c50 -d15s --latency -s bench/book.lua http://127.0.0.1:PORT
-- A slot starts on a random half hour from 00:00 to 23:00 UTC and lasts one
-- hour (the studio is set up in UTC, open 00:00-24:00 every day, 30-minute
-- grid). Most requests find the slot free (201); some hit a booking made
-- before (409 slot_taken). At the end it prints, for all threads:
--   status 201: N / status 409: N / status other: N (with a sample)
--   created/s: the 201s per second of the run
local host = os.getenv("BENCH_HOST")
local rooms_env = os.getenv("BENCH_ROOMS")
local base = tonumber(os.getenv("BENCH_BASE_EPOCH") or "")
local days = tonumber(os.getenv("BENCH_DAYS") or "700")
local customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "100000")
if not host or host == "" or not rooms_env or rooms_env == "" or not base then
  io.stderr:write("book.lua: set BENCH_HOST, BENCH_ROOMS and BENCH_BASE_EPOCH\n")
  os.exit(2)
end

local rooms = {}
for id in rooms_env:gmatch("[^,%s]+") do
  rooms[#rooms + 1] = id
end

local headers = {
  ["Host"] = host,
  ["Content-Type"] = "application/json",
  ["Accept"] = "application/json",
}

-- Per thread (each wrk thread has its own Lua state): the counters, read back
-- in done() through the thread objects kept by setup().
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  threads[#threads + 1] = thread
end

function init(args)
  n201, n409, nother, sample = 0, 0, 0, ""
  math.randomseed(os.time() * 7919 + (id or 0) * 104729)
  math.random(); math.random()
end

local function utc(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

function request()
  local room = rooms[math.random(#rooms)]
  local s = base + math.random(1, days) * 86400 + math.random(0, 46) * 1800
  local c = math.random(1, customers)
  local body = string.format(
    '{"room_id":"%s","starts_at":"%s","ends_at":"%s",' ..
    '"customer":{"name":"Customer %d","email":"c%d@bench.test","phone":"+33 1 00 00 00 00"}}',
    room, utc(s), utc(s + 3600), c, c)
  return wrk.format("POST", "/api/public/booking", headers, body)
end

function response(status, headers, body)
  if status == 201 then
    n201 = n201 + 1
  elseif status == 409 then
    n409 = n409 + 1
  else
    nother = nother + 1
    if sample == "" then
      sample = status .. " " .. (body or ""):sub(1, 200)
    end
  end
end

function done(summary, latency, requests)
  local c201, c409, cother, samples = 0, 0, 0, {}
  for _, t in ipairs(threads) do
    c201 = c201 + (t:get("n201") or 0)
    c409 = c409 + (t:get("n409") or 0)
    cother = cother + (t:get("nother") or 0)
    local s = t:get("sample")
    if s and s ~= "" then samples[#samples + 1] = s end
  end
  local secs = summary.duration / 1e6
  io.write(string.format("status 201: %d\n", c201))
  io.write(string.format("status 409: %d\n", c409))
  io.write(string.format("status other: %d\n", cother))
  for _, s in ipairs(samples) do
    io.write("other sample: " .. s:gsub("[\r\n]", " ") .. "\n")
  end
  io.write(string.format("created/s: %.1f\n", c201 / secs))
  io.write(string.format("conflicts/s: %.1f\n", c409 / secs))
end
