-- wrk: each request from one of 1,000,000 IPv6 clients (a /64 each), drawn at
-- random, so that nearly every request is a client the worker has not kept:
-- the rate limit's bounded memory forgets one and remembers another each time.
request = function()
  local n = math.random(0, 999999)
  local address = string.format("2a02:%x:%x::1", math.floor(n / 65536), n % 65536)
  return wrk.format(nil, nil, { ["X-Forwarded-For"] = address })
end
