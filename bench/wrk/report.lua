-- wrk script of bench/api.ts: `wrk ... -s bench/wrk/report.lua <url> -- [METHOD] [body file]`.
-- Sends the given method and body (the ingest figure POSTs a batch) and, when the run is over, prints
-- one JSON line with the figures. wrk counts an answer of 400 or more in summary.errors.status; the
-- transport errors are the other fields of summary.errors.

function init(args)
  if args[1] then wrk.method = args[1] end
  if args[2] then
    local f = assert(io.open(args[2], "rb"))
    wrk.body = f:read("*a")
    f:close()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_s":%.3f,"requests_per_s":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,' ..
      '"max_ms":%.3f,"socket_errors":%d,"timeouts":%d,"non_2xx_3xx":%d}\n',
    summary.requests,
    summary.duration / 1e6,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    latency.max / 1000,
    e.connect + e.read + e.write,
    e.timeout,
    e.status))
end
