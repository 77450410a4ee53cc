-- wrk script: replay pre-signed WeChat Pay notifications, each one exactly once.
--
-- bench_wechatpay.py writes the raw HTTP/1.1 requests (each signed and encrypted for its own
-- order) to the file named by the REQUESTS environment variable as "<length>\n<bytes>" records.
-- Thread k of n sends records k, k+n, k+2n, ... in order; no record is sent twice. If a thread
-- runs out before wrk's duration ends it stops sending (and reports it), so the figures never
-- include re-deliveries. Non-2xx answers are counted per thread and reported by done().

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
  local f = assert(io.open(os.getenv("REQUESTS"), "rb"))
  local data = f:read("*a")
  f:close()
  reqs = {}
  local pos, index = 1, 0
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    if index % nthreads == id then
      reqs[#reqs + 1] = data:sub(nl + 1, nl + len)
    end
    pos = nl + 1 + len
    index = index + 1
  end
  data = nil
  sent, answered, bad, exhausted = 0, 0, 0, 0
end

function request()
  if id == 0 and not verified then
    -- wrk calls thread 0's request() once before the run to check what it returns, and
    -- discards it: hand it the first record without counting it as sent.
    verified = true
    return reqs[1]
  end
  if sent >= #reqs then
    -- Nothing left to send: park this connection on a request the server answers without
    -- side effects and flag the run, so that the bench refuses its figures.
    exhausted = 1
    return wrk.format("GET", "/healthz")
  end
  sent = sent + 1
  return reqs[sent]
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 and status ~= 204 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local sent_total, answered_total, bad_total, exhausted_total = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + thread:get("sent")
    answered_total = answered_total + thread:get("answered")
    bad_total = bad_total + thread:get("bad")
    exhausted_total = exhausted_total + thread:get("exhausted")
  end
  io.write(string.format(
    "RESULT {\"sent\": %d, \"answered\": %d, \"bad_status\": %d, \"exhausted\": %d, " ..
    "\"requests\": %d, \"duration_us\": %d, \"connect_errors\": %d, \"read_errors\": %d, " ..
    "\"write_errors\": %d, \"timeouts\": %d, \"status_errors\": %d, " ..
    "\"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, \"max_us\": %d, \"mean_us\": %d}\n",
    sent_total, answered_total, bad_total, exhausted_total,
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
  -- Which records each thread sent: the bench checks every one of them was recorded.
  for _, thread in ipairs(threads) do
    io.write(string.format("THREAD %d %d\n", thread:get("id"), thread:get("sent")))
  end
end
