-- wrk: each request from one of 1,024 client addresses, as Heroku's router would
-- append it to X-Forwarded-For, so that a per-address rate limit counts many
-- clients at realistic rates (a few a second each) rather than one client at
-- thousands a second.
request = function()
  local address = "100.64." .. math.random(0, 3) .. "." .. math.random(0, 255)
  return wrk.format(nil, nil, { ["X-Forwarded-For"] = address })
end
