-- wrk script for sessiond validation: GET <path> with a Bearer token that
-- rotates through a file of prefilled tokens, each thread from its own
-- offset. Environment:
--   BENCH_TOKENS  file with one token a line (required unless BENCH_PATH=/ping)
--   BENCH_PATH    request path (default /v1/session)
--   BENCH_LEVEL   consistency level sent as ?consistency= (default none)
-- done() prints one line "BENCH_JSON {...}" for scripts/bench to parse.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local tokens = {}
local idx = 0
local path = os.getenv("BENCH_PATH") or "/v1/session"
local level = os.getenv("BENCH_LEVEL") or ""

function init(args)
  local file = os.getenv("BENCH_TOKENS")
  if file and file ~= "" then
    for line in io.lines(file) do
      tokens[#tokens + 1] = line
    end
  end
  if level ~= "" then
    path = path .. "?consistency=" .. level
  end
  if #tokens > 0 then
    idx = ((id or 1) * 7919) % #tokens
  end
end

function request()
  if #tokens == 0 then
    return wrk.format("GET", path)
  end
  idx = idx % #tokens + 1
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[idx] })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d,' ..
    '"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), e.status, e.connect, e.read, e.write, e.timeout))
end
