--[[
  Enqueue a batch of jobs (one or many): each ready now (XADD to the stream) or later (into the
  delay set), each at most once per idempotency key, each with its status recorded. A batch is
  one script call, so bulk enqueue costs one command per batch instead of one per job.

  KEYS[1] stream        (STREAM) streamq:{q}:stream
  KEYS[2] delayed       (ZSET)   streamq:{q}:delayed; member job id, score due time in ms
  KEYS[3] delayed_jobs  (HASH)   streamq:{q}:delayed:jobs; job id -> payload
  KEYS[4] removed       (STRING) streamq:{q}:removed, entries streamq removed (for lua/audit.lua):
                           set to 0 when this call creates the stream, so its count starts with it
  KEYS[5...] per job, two keys: status (HASH) streamq:{q}:job:<id>, then idempotency (STRING) streamq:{q}:idem:<key>

  ARGV[1] delay, ms from now (0 = ready now unless ARGV[2] is set)
  ARGV[2] run at, epoch ms (0 = unused)
  ARGV[3] track status, "1" or "0"
  ARGV[4] idempotency key TTL, ms
  ARGV[5] now override, epoch ms (0 = the server's TIME; tests inject a clock here)
  ARGV[6] pending status TTL, ms: each status hash expires this long after its job is due (a job
          whose entry is deleted behind the engine's back never reaches an end that expires it)
  ARGV[7...] per job, five values: job id, payload (the msgspec JSON of the Job), created at
             (epoch ms), attempt, has an idempotency key ("1" or "0"; without one, the job's
             idempotency key slot is left untouched)

  Returns a flat list with two values per job, in order: the job id and 1 when it was enqueued,
  or the first job's id and 0 when its idempotency key was already used (nothing added for it).
  The memory-growing write comes first, so under OOM the script fails before writing anything.
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms

local now = now_ms(ARGV[5])
local delay, run_at = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = 0
if run_at > 0 then due = run_at elseif delay > 0 then due = now + delay end
if due <= now then due = 0 end
local track = ARGV[3] == '1'
local idem_ttl = tonumber(ARGV[4])
local status_ttl = tonumber(ARGV[6]) + math.max(due - now, 0)

local out = {}
local k = 5
local fresh = redis.call('EXISTS', KEYS[1]) == 0
for i = 7, #ARGV, 5 do
  local job_id, payload = ARGV[i], ARGV[i + 1]
  local status, idem = KEYS[k], KEYS[k + 1]
  local has_idem = ARGV[i + 4] == '1'
  k = k + 2
  local first = has_idem and redis.call('GET', idem)
  if first then
    out[#out + 1] = first
    out[#out + 1] = 0
  else
    if due > 0 then
      redis.call('HSET', KEYS[3], job_id, payload)
      redis.call('ZADD', KEYS[2], due, job_id)
    else
      redis.call('XADD', KEYS[1], '*', 'job', payload, 'id', job_id)
      if fresh then
        redis.call('SET', KEYS[4], 0)
        fresh = false
      end
    end
    if has_idem then
      redis.call('SET', idem, job_id, 'PX', idem_ttl)
    end
    if track then
      redis.call('HSET', status, 'state', 'pending', 'attempt', ARGV[i + 3],
        'created_at', ARGV[i + 2], 'updated_at', now)
      if due > 0 then redis.call('HSET', status, 'retry_at', due) end
      redis.call('PEXPIRE', status, status_ttl)
    end
    out[#out + 1] = job_id
    out[#out + 1] = 1
  end
end
return out
