--[[
  Settle a run its worker cancelled on request (`cancel` of a running job): XACK and XDEL the
  entry this consumer owns, and end the job `cancelled` (status and outcome with the status
  TTL). Not the DLQ, not a retry.

  KEYS[1] stream  (STREAM) streamq:{q}:stream
  KEYS[2] status  (HASH)   streamq:{q}:job:<id>
  KEYS[3] result  (STREAM) streamq:{q}:result:<id>
  KEYS[4] removed (STRING) streamq:{q}:removed, entries streamq removed (for lua/audit.lua)

  ARGV[1] group name
  ARGV[2] consumer name
  ARGV[3] entry id
  ARGV[4] status TTL once cancelled, seconds
  ARGV[5] now override, epoch ms (0 = the server's TIME)

  Returns 1 settled, 0 not owner (nothing written), -1 the entry was deleted behind the
  engine's back (acked; the job still ends cancelled). XACK is the first write, so under
  maxmemory (noeviction) the settle runs to the end (see retry.lua).
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms
--- @include cancelled
local removed_key = KEYS[4]
--- @include count_removed

local stream, group, consumer, id = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local status, result = KEYS[2], KEYS[3]
if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
  return 0
end
local gone = #redis.call('XRANGE', stream, id, id) == 0
redis.call('XACK', stream, group, id)
count_removed(redis.call('XDEL', stream, id))
mark_cancelled(status, result, now_ms(ARGV[5]), tonumber(ARGV[4]))
if gone then return -1 end
return 1
