--[[
  Move an entry this consumer owns to the dead-letter stream with its raw bytes as stored, the
  reason and the last error, then XACK and XDEL it. Used for permanent errors, exhausted retries,
  undecodable payloads and poison entries (decided by the caller from the delivery count, before
  decoding).

  KEYS[1] stream   (STREAM) streamq:{q}:stream
  KEYS[2] dlq      (STREAM) streamq:{q}:dlq
  KEYS[3] status   (HASH)   streamq:{q}:job:<id> (any key of the queue when the id is unknown)
  KEYS[4] dropped  (STRING) streamq:{q}:dlq:dropped, count of entries trimmed by the DLQ cap
  KEYS[5] result   (STREAM) streamq:{q}:result:<id>, the job's outcome for `result()`
  KEYS[6] removed  (STRING) streamq:{q}:removed, entries streamq removed (for lua/audit.lua)

  ARGV[1] group name
  ARGV[2] consumer name
  ARGV[3] entry id
  ARGV[4] job id ("" when the payload could not be decoded)
  ARGV[5] reason: permanent_error | retries_exhausted | undecodable | poison
  ARGV[6] last error
  ARGV[7] attempt ("" when unknown)
  ARGV[8] status TTL, seconds
  ARGV[9] track status, "1" or "0"
  ARGV[10] DLQ cap, entries (0 = unbounded); past it the oldest entries are trimmed and counted
  ARGV[11] now override, epoch ms (0 = the server's TIME)
  ARGV[12] result TTL, seconds (0 = the job keeps no result); else the death is recorded as the
           job's outcome in the same write, so a waiting `result()` raises at once
  ARGV[13] traceback of the last error, as the worker formatted it ("" when it has none); kept
           in the dead letter's `traceback` field, not in the job's status

  The DLQ entry keeps every field of the stream entry: `job` (only if the entry had one) and
  `id` as themselves, any other field F as `field:F` (an entry of another shape, XADDed by
  something that is not streamq, keeps what it held). At most 1,000 such fields are kept (so the
  XADD stays under Lua's unpack limit); `fields_dropped` counts the rest.

  Returns 1 moved, 0 not owner (nothing written), -1 the entry was deleted behind the engine's
  back (acked and counted by the caller; nothing to move).

  The first write is XACK, so under maxmemory (noeviction) the move still runs to the end (see
  retry.lua): poison must leave the stream even when the server is full.
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms
local removed_key = KEYS[6]
--- @include count_removed

local stream, group, consumer, id = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
  return 0
end
local entry = redis.call('XRANGE', stream, id, id)
if #entry == 0 then
  redis.call('XACK', stream, group, id)
  return -1
end
local now = now_ms(ARGV[11])
local fields = entry[1][2]
local dead = {}
for i = 1, #fields, 2 do
  if fields[i] == 'job' then
    dead[#dead + 1], dead[#dead + 2] = 'job', fields[i + 1]
  end
end
for _, v in ipairs({'id', ARGV[4], 'reason', ARGV[5], 'error', ARGV[6], 'attempt', ARGV[7],
    'entry', id, 'consumer', consumer, 'failed_at', now}) do
  dead[#dead + 1] = v
end
if ARGV[13] ~= '' then
  dead[#dead + 1], dead[#dead + 2] = 'traceback', ARGV[13]
end
local kept, dropped = 0, 0
for i = 1, #fields, 2 do
  if fields[i] ~= 'job' and fields[i] ~= 'id' then
    if kept < 1000 then
      dead[#dead + 1], dead[#dead + 2] = 'field:' .. fields[i], fields[i + 1]
      kept = kept + 1
    else
      dropped = dropped + 1
    end
  end
end
if dropped > 0 then
  dead[#dead + 1], dead[#dead + 2] = 'fields_dropped', dropped
end
redis.call('XACK', stream, group, id)
redis.call('XADD', KEYS[2], '*', unpack(dead))
count_removed(redis.call('XDEL', stream, id))
local cap = tonumber(ARGV[10])
if cap > 0 then
  local over = redis.call('XLEN', KEYS[2]) - cap
  if over > 0 then
    redis.call('XTRIM', KEYS[2], 'MAXLEN', cap)
    redis.call('INCRBY', KEYS[4], over)
  end
end
if ARGV[9] == '1' and ARGV[4] ~= '' then
  redis.call('HSET', KEYS[3], 'state', 'dead_lettered', 'dead_reason', ARGV[5],
    'last_error', ARGV[6], 'updated_at', now)
  if ARGV[7] ~= '' then redis.call('HSET', KEYS[3], 'attempt', ARGV[7]) end
  redis.call('HDEL', KEYS[3], 'retry_at')
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[8]))
end
local result_ttl = tonumber(ARGV[12])
if result_ttl > 0 and ARGV[4] ~= '' then
  redis.call('DEL', KEYS[5])
  redis.call('XADD', KEYS[5], '*', 'state', 'dead_lettered', 'reason', ARGV[5],
    'error', ARGV[6])
  redis.call('EXPIRE', KEYS[5], result_ttl)
end
return 1
