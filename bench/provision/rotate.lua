-- wrk script: POST /api/sip/provision with a different bearer token on every request, in turn
-- from the file named by the TOKENS environment variable (one token per line).
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
local i = math.random(#tokens)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"userInfo":{}}'
request = function()
  i = i % #tokens + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[i]
  return wrk.format()
end
-- wrk counts answers other than 2xx/3xx in summary.errors.status.
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_us=%d p99_us=%d errors=%d non200=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
