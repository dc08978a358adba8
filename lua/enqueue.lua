--[[
  Enqueue one job: ready now (XADD to the stream) or later (into the delay set), at most once per
  idempotency key, and record its status.

  KEYS[1] stream        (STREAM) streamq:{q}:stream
  KEYS[2] delayed       (ZSET)   streamq:{q}:delayed; member job id, score due time in ms
  KEYS[3] delayed_jobs  (HASH)   streamq:{q}:delayed:jobs; job id -> payload
  KEYS[4] status        (HASH)   streamq:{q}:job:<id>
  KEYS[5] idempotency   (STRING) streamq:{q}:idem:<key> (any key of the queue when unused)

  ARGV[1] job id
  ARGV[2] payload, the msgspec JSON of the Job
  ARGV[3] delay, ms from now (0 = ready now unless ARGV[4] is set)
  ARGV[4] run at, epoch ms (0 = unused)
  ARGV[5] track status, "1" or "0"
  ARGV[6] idempotency key TTL, ms (0 = no idempotency check)
  ARGV[7] now override, epoch ms (0 = the server's TIME; tests inject a clock here)
  ARGV[8] created at, epoch ms
  ARGV[9] attempt

  Returns {job id, 1} when enqueued, {first job id, 0} when the idempotency key was already used.
  The memory-growing write comes first, so under OOM the script fails before writing anything.
]]
-- luacheck: globals redis KEYS ARGV

local function now_ms(override)
  local n = tonumber(override)
  if n and n > 0 then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local job_id = ARGV[1]
local idem_ttl = tonumber(ARGV[6])
if idem_ttl > 0 then
  local first = redis.call('GET', KEYS[5])
  if first then return {first, 0} end
end

local now = now_ms(ARGV[7])
local delay = tonumber(ARGV[3])
local run_at = tonumber(ARGV[4])
local due = 0
if run_at > 0 then due = run_at elseif delay > 0 then due = now + delay end

if due > now then
  redis.call('HSET', KEYS[3], job_id, ARGV[2])
  redis.call('ZADD', KEYS[2], due, job_id)
else
  due = 0
  redis.call('XADD', KEYS[1], '*', 'job', ARGV[2], 'id', job_id)
end

if idem_ttl > 0 then
  redis.call('SET', KEYS[5], job_id, 'PX', idem_ttl)
end
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[4], 'state', 'pending', 'attempt', ARGV[9], 'created_at', ARGV[8],
    'updated_at', now)
  if due > 0 then redis.call('HSET', KEYS[4], 'retry_at', due) end
end
return {job_id, 1}
