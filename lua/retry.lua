--[[
  Schedule the next attempt of a failed job this consumer owns: store the new payload in the
  delay set due at the server's time + delay (or straight back in the stream when the delay is 0),
  then XACK and XDEL the failed entry.

  KEYS[1] stream        (STREAM) streamq:{q}:stream
  KEYS[2] delayed       (ZSET)   streamq:{q}:delayed
  KEYS[3] delayed_jobs  (HASH)   streamq:{q}:delayed:jobs
  KEYS[4] status        (HASH)   streamq:{q}:job:<id>
  KEYS[5] removed       (STRING) streamq:{q}:removed, entries streamq removed (for lua/audit.lua)

  ARGV[1] group name
  ARGV[2] consumer name
  ARGV[3] entry id of the failed attempt
  ARGV[4] job id
  ARGV[5] payload of the next attempt (attempt already incremented)
  ARGV[6] delay, ms
  ARGV[7] next attempt number
  ARGV[8] last error
  ARGV[9] track status, "1" or "0"
  ARGV[10] now override, epoch ms (0 = the server's TIME)
  ARGV[11] pending status TTL, ms: the status hash expires this long after the job is due (an
           entry deleted behind the engine's back never reaches an end that would expire it)

  Returns {1, due ms} when scheduled (due 0: re-added to the stream), {0, 0} when this consumer no
  longer owns the entry (nothing written). The job id is the delay-set member, so two retries can
  never collapse into one member.

  Under maxmemory (noeviction) the first write is XACK, which Redis allows: once a script has
  written, later writes are not refused, so the move runs to the end. A retry frees the entry it
  moves, and a worker that could not settle failures under OOM would leave them pending to be
  reclaimed and run again. (Producers' enqueue.lua puts its growing write first instead, so an
  enqueue under OOM is refused whole.)
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms
local removed_key = KEYS[5]
--- @include count_removed

local stream, group, consumer, id = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
  return {0, 0}
end
local now = now_ms(ARGV[10])
local delay = tonumber(ARGV[6])
local due = 0
redis.call('XACK', stream, group, id)
if delay > 0 then
  due = now + delay
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
  redis.call('ZADD', KEYS[2], due, ARGV[4])
else
  redis.call('XADD', stream, '*', 'job', ARGV[5], 'id', ARGV[4])
end
count_removed(redis.call('XDEL', stream, id))
if ARGV[9] == '1' then
  redis.call('HSET', KEYS[4], 'state', 'pending', 'attempt', ARGV[7], 'last_error', ARGV[8],
    'updated_at', now)
  if due > 0 then
    redis.call('HSET', KEYS[4], 'retry_at', due)
  else
    redis.call('HDEL', KEYS[4], 'retry_at')
  end
  redis.call('PEXPIRE', KEYS[4], math.max(due - now, 0) + tonumber(ARGV[11]))
end
return {1, due}
