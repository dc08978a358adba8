--[[
  Record settled jobs' outcomes at one destination in its circuit breaker: consecutive transient
  failures within a window open it; in half-open, the probe's success closes it and its failure
  re-opens it with a doubled cool-down (capped). Any success while closed or half-open resets
  the count (the destination answers).

  KEYS[1] breaker  (HASH) streamq:{lim:<name>}:breaker; state, failures, since, open_until,
                          cooldown_ms, opens, probe, probe_until

  ARGV[1] now override, epoch ms (0 = the server's TIME)
  ARGV[2] failures that open it
  ARGV[3] window, ms
  ARGV[4] first cool-down, ms
  ARGV[5] longest cool-down, ms
  ARGV[6...] pairs (job id, outcome "1" succeeded or "0" failed transiently), in settle order

  Returns {state after, times it opened in this call}.
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms

local key, now = KEYS[1], now_ms(ARGV[1])
local threshold, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local base, cap = tonumber(ARGV[4]), tonumber(ARGV[5])
local opened = 0

local function open(cooldown)
  redis.call('HSET', key, 'state', 'open', 'open_until', now + cooldown, 'cooldown_ms', cooldown,
    'failures', 0, 'opened_at', now)
  redis.call('HDEL', key, 'probe', 'probe_until', 'since')
  redis.call('HINCRBY', key, 'opens', 1)
  opened = opened + 1
end

for i = 6, #ARGV - 1, 2 do
  local job, ok = ARGV[i], ARGV[i + 1] == '1'
  local b = redis.call('HMGET', key, 'state', 'failures', 'since', 'probe', 'cooldown_ms')
  local state = b[1] or 'closed'
  if ok then
    if state ~= 'open' then
      if state == 'half_open' or (tonumber(b[2]) or 0) > 0 then
        redis.call('HSET', key, 'state', 'closed', 'failures', 0)
        redis.call('HDEL', key, 'since', 'probe', 'probe_until', 'cooldown_ms', 'open_until')
      end
    end
  elseif state == 'half_open' then
    if b[4] == job or not b[4] then
      open(math.min((tonumber(b[5]) or base) * 2, cap))
    end
  elseif state == 'closed' then
    local failures, since = tonumber(b[2]) or 0, tonumber(b[3]) or 0
    if failures == 0 or now - since > window then
      failures, since = 1, now
    else
      failures = failures + 1
    end
    if failures >= threshold then
      open(base)
    else
      redis.call('HSET', key, 'state', 'closed', 'failures', failures, 'since', since)
    end
  end
end
return {redis.call('HGET', key, 'state') or 'closed', opened}
