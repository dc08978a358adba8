--[[
  Admit a batch of jobs through one limit (a task name or a destination), atomically for the
  whole pool: its circuit breaker first, then a GCRA rate limit and a lease-counted semaphore.
  A job is admitted only when every configured part lets it through; only then is a rate token
  taken and a concurrency slot held (so a refused job costs the limit nothing).

  KEYS[1] rate     (STRING) streamq:{lim:<name>}:rate; the GCRA's theoretical arrival time, ms
  KEYS[2] holders  (ZSET)   streamq:{lim:<name>}:holders; member job id, score lease expiry ms
  KEYS[3] breaker  (HASH)   streamq:{lim:<name>}:breaker; state, open_until, probe, probe_until
  KEYS[4] tail     (STRING) streamq:{lim:<name>}:tail; the latest turn promised to a deferred
                            job, ms (every worker's refused jobs queue up behind it)

  ARGV[1] now override, epoch ms (0 = the server's TIME)
  ARGV[2] emission interval, ms (a float; 0 = no rate limit)
  ARGV[3] burst, jobs (the GCRA's tolerance is (burst - 1) intervals)
  ARGV[4] concurrency, jobs (0 = no concurrency limit)
  ARGV[5] holder lease, ms (a slot not renewed or released by then is reclaimed)
  ARGV[6] busy wait, ms (how long a job refused for concurrency is deferred)
  ARGV[7] breaker on, "1" or "0"
  ARGV[8] probe lease, ms (a half-open probe not settled by then lets another one through)
  ARGV[9] half-open wait, ms (how long jobs wait while a probe is out)
  ARGV[10...] job ids, one per job asking

  Returns {breaker state, code, wait ms, code, wait ms, ...}: one (code, wait) per job, code 0
  admitted (wait 0), 1 refused by the rate (wait: until its turn comes, each refused job of any
  worker queued one interval behind the last one promised, so a deferred backlog comes back
  spread out instead of all at once), 2 refused by
  concurrency, 3 refused by the breaker (open: until its cool-down ends; half-open: the wait).
  Expired holders (a dead worker's slots) are pruned first, so their slots come back.
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms

local now = now_ms(ARGV[1])
local interval, burst = tonumber(ARGV[2]), tonumber(ARGV[3])
local concurrency, lease = tonumber(ARGV[4]), tonumber(ARGV[5])
local busy_wait = tonumber(ARGV[6])
local reply = {'closed'}

local state, open_until, probe_until = 'closed', 0, 0
if ARGV[7] == '1' then
  local b = redis.call('HMGET', KEYS[3], 'state', 'open_until', 'probe_until')
  state = b[1] or 'closed'
  open_until, probe_until = tonumber(b[2]) or 0, tonumber(b[3]) or 0
  if state == 'open' and now >= open_until then
    state = 'half_open'
    redis.call('HSET', KEYS[3], 'state', state)
    redis.call('HDEL', KEYS[3], 'probe', 'probe_until')
    probe_until = 0
  end
end
reply[1] = state

local held = 0
if concurrency > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  held = redis.call('ZCARD', KEYS[2])
end
local tat = 0
if interval > 0 then
  tat = math.max(tonumber(redis.call('GET', KEYS[1])) or 0, now)
end
local tolerance = interval * (burst - 1)
-- Where the next refused job's turn is: behind every turn already promised (by any worker).
local queued = interval > 0 and math.max(tat, tonumber(redis.call('GET', KEYS[4])) or 0) or 0
local promised = false
local busy = 0
local took_rate, took_slot = false, false

for i = 10, #ARGV do
  local job = ARGV[i]
  local code, wait = 0, 0
  if state == 'open' then
    code, wait = 3, open_until - now
  elseif state == 'half_open' and probe_until > now then
    code, wait = 3, tonumber(ARGV[9])
  elseif interval > 0 and tat - now > tolerance then
    queued = math.max(queued, tat)
    code, wait = 1, math.ceil(queued - now - tolerance)
    queued = queued + interval
    promised = true
  elseif concurrency > 0 and held >= concurrency then
    busy = busy + 1
    code, wait = 2, busy_wait * (1 + math.floor((busy - 1) / concurrency))
  else
    if interval > 0 then
      tat = tat + interval
      took_rate = true
    end
    if concurrency > 0 then
      redis.call('ZADD', KEYS[2], now + lease, job)
      held = held + 1
      took_slot = true
    end
    if state == 'half_open' then
      probe_until = now + tonumber(ARGV[8])
      redis.call('HSET', KEYS[3], 'probe', job, 'probe_until', probe_until)
    end
  end
  reply[#reply + 1] = code
  reply[#reply + 1] = math.max(wait, 1) * (code == 0 and 0 or 1)
end
if took_rate then
  redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil(tat - now + tolerance) + 1000)
end
if promised then
  redis.call('SET', KEYS[4], tostring(queued), 'PX', math.ceil(queued - now) + 1000)
end
if took_slot then
  redis.call('PEXPIRE', KEYS[2], lease * 2)
end
return reply
