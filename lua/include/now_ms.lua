-- now_ms(override): epoch milliseconds: the override (an ARGV) when it is a positive number,
-- else the server's TIME, so that every due time is on Redis's clock (tests inject a clock).
-- Redis 7 replicates a script's effects, not the script, so reading TIME before writes is safe.
local function now_ms(override)
  local n = tonumber(override)
  if n and n > 0 then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
