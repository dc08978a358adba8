--[[
  Discard a job this consumer owns whose first attempt was not started before its expiry: XACK
  and XDEL the entry, count it, mark the job expired and, when the job keeps a result, record
  the expiry as its outcome (so `result()` raises at once). Nothing is written before the
  expiry, judged on the server's clock, so a job is either run or discarded, never both.

  KEYS[1] stream   (STREAM) streamq:{q}:stream
  KEYS[2] status   (HASH)   streamq:{q}:job:<id>
  KEYS[3] expired  (STRING) streamq:{q}:expired, count of jobs discarded unrun
  KEYS[4] result   (STREAM) streamq:{q}:result:<id>
  KEYS[5] removed  (STRING) streamq:{q}:removed, entries streamq removed (for lua/audit.lua)

  ARGV[1] group name
  ARGV[2] consumer name
  ARGV[3] entry id
  ARGV[4] expires at, epoch ms
  ARGV[5] status TTL, seconds
  ARGV[6] track status, "1" or "0"
  ARGV[7] result TTL, seconds (0 = the job keeps no result)
  ARGV[8] now override, epoch ms (0 = the server's TIME)

  Returns 1 discarded as expired, 0 not expired yet (nothing written; run the job), -1 not
  owner (nothing written).
  The first write is XACK, so under maxmemory (noeviction) the discard runs to the end.
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms
local removed_key = KEYS[5]
--- @include count_removed

local stream, group, consumer, id = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
  return -1
end
local now = now_ms(ARGV[8])
if now < tonumber(ARGV[4]) then
  return 0
end
redis.call('XACK', stream, group, id)
count_removed(redis.call('XDEL', stream, id))
redis.call('INCR', KEYS[3])
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[2], 'state', 'expired', 'updated_at', now)
  redis.call('HDEL', KEYS[2], 'retry_at')
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
end
local result_ttl = tonumber(ARGV[7])
if result_ttl > 0 then
  redis.call('DEL', KEYS[4])
  redis.call('XADD', KEYS[4], '*', 'state', 'expired', 'error', 'not started before it expired')
  redis.call('EXPIRE', KEYS[4], result_ttl)
end
return 1
