--[[
  Cancel a job by id, deciding atomically from its status hash and the delay sets where it is:
  a delayed job (scheduled, retrying or deferred) leaves the delay set and ends `cancelled`
  here; a job in the stream that no worker has started yet (`pending`) ends `cancelled` here,
  and the worker that reads its entry discards it unrun (start.lua, in the script that would
  have marked it running); a `running` job gets a cancel request that its worker reads within
  one poll interval (it then cancels the run and settles it `cancelled` through
  settle_cancel.lua), and that start.lua honours if the entry is reclaimed after a crash.

  KEYS[1]    status        (HASH)   streamq:{q}:job:<id>
  KEYS[2]    result        (STREAM) streamq:{q}:result:<id>, the job's outcome for `result()`
  KEYS[3]    cancelled     (ZSET)   streamq:{q}:cancelled; member job id, score when cancelled
  KEYS[4...] per priority level, two keys: delayed (ZSET) streamq:{q}:delayed, then delayed jobs (HASH) streamq:{q}:delayed:jobs (or a level's pair)

  ARGV[1]    job id
  ARGV[2]    status TTL once cancelled, seconds
  ARGV[3]    now override, epoch ms (0 = the server's TIME)
  ARGV[4]    pending status TTL, ms: how long a ready job's id is kept in the cancelled set
             (as long as its status hash; older ids are trimmed, the set expires with them)

  Returns {code, detail}: {1, "delayed"} removed from a delay set and cancelled; {1, "ready"}
  cancelled before any worker started it (its entry is discarded when read); {2, consumer} a
  running job's cancel was requested from that consumer; {0, state} already ended (completed,
  dead_lettered, expired, cancelled, failed: nothing written); {-1, ""} unknown (no status:
  never enqueued, expired, or enqueued without status tracking).

  A ready job's status keeps its pending TTL (it must outlive the entry it guards); it gets
  the status TTL once the entry is discarded. Its id goes into the cancelled set, which the
  script that marks fetched batches running consults only while it is not empty.
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms
--- @include cancelled

local status, result, job_id = KEYS[1], KEYS[2], ARGV[1]
local ttl = tonumber(ARGV[2])
local state = redis.call('HGET', status, 'state')
if not state then
  return {-1, ''}
end
if state == 'completed' or state == 'dead_lettered' or state == 'expired'
    or state == 'cancelled' or state == 'failed' then
  return {0, state}
end
local now = now_ms(ARGV[3])
for i = 4, #KEYS, 2 do
  if redis.call('ZREM', KEYS[i], job_id) == 1 then
    redis.call('HDEL', KEYS[i + 1], job_id)
    mark_cancelled(status, result, now, ttl)
    return {1, 'delayed'}
  end
end
if state == 'running' then
  redis.call('HSET', status, 'cancel_requested_at', now)
  return {2, redis.call('HGET', status, 'consumer') or ''}
end
local keep_ms = tonumber(ARGV[4])
redis.call('ZADD', KEYS[3], now, job_id)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - keep_ms)
redis.call('PEXPIRE', KEYS[3], keep_ms)
redis.call('HSET', status, 'state', 'cancelled', 'updated_at', now)
redis.call('HDEL', status, 'retry_at')
redis.call('DEL', result)
redis.call('XADD', result, '*', 'state', 'cancelled', 'error', 'cancelled')
redis.call('EXPIRE', result, ttl)
return {1, 'ready'}
