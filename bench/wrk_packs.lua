-- wrk script for verify_http (bench/loadgen.py runs it): GET /api/v1/packs/<gtin>/<serial>
-- for a random key of the keys file on every request, and one JSON line of results at the end.
--
--   wrk -t2 -c32 -d15s -s bench/wrk_packs.lua http://127.0.0.1:PORT -- KEYS_FILE TOKEN SEED
--
-- KEYS_FILE holds "gtin serial" per line. wrk runs each thread in its own Lua state: init()
-- loads the keys in every thread and seeds its generator differently.

local paths = {}
local count = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local gtin, serial = line:match("^(%S+)%s+(%S+)")
    if gtin then
      count = count + 1
      paths[count] = "/api/v1/packs/" .. gtin .. "/" .. serial
    end
  end
  file:close()
  assert(count > 0, "no keys in " .. args[1])
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  math.randomseed(tonumber(args[3]) + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
end

function request()
  return wrk.format("GET", paths[math.random(count)])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx_3xx": %d, "connect": %d, "read": %d, '
      .. '"write": %d, "timeout": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
