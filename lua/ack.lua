--[[
  Acknowledge a batch of finished entries: for each entry this consumer still owns, XACK and XDEL it
  (the stream stays small without MAXLEN) and mark its job completed with a TTL.

  KEYS[1]    stream   (STREAM) streamq:{q}:stream
  KEYS[2]    removed  (STRING) streamq:{q}:removed, entries streamq removed (for lua/audit.lua)
  KEYS[3...] status   (HASH)   streamq:{q}:job:<id>, one per entry, in the order of ARGV[5...]

  ARGV[1]    group name
  ARGV[2]    consumer name
  ARGV[3]    status TTL after completion, seconds
  ARGV[4]    track status, "1" or "0"
  ARGV[5...] entry ids, one per status key

  Returns one code per entry: 1 acked, 0 not owner (nothing written for that entry).
  Each entry is checked on its own: ownership is this consumer's PEL, since XACK alone would
  accept an ack from a worker that lost the entry to a reclaim. One XPENDING over the batch's id
  range reads that PEL for the whole batch, and one XACK and one XDEL per 500 owned entries settle
  them: per-entry calls made this script the worker's largest server-side cost.
  A `retry_at` left in a status hash from an earlier wait is not deleted: it speaks only for a
  job that is waiting (pending, retrying or deferred, `streamq.model.records`), and an HDEL per
  job was a tenth of this script's cost.
]]
-- luacheck: globals redis KEYS ARGV

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local ttl = tonumber(ARGV[3])
local track = ARGV[4] == '1'
local first, last = 5, #ARGV
--- @include now_ms
local removed_key = KEYS[2]
--- @include count_removed

local codes = {}
if last < first then return codes end

-- The batch's lowest and highest ids ("ms-seq", compared as numbers, not as strings).
local lo, hi, lo_ms, lo_seq, hi_ms, hi_seq
for i = first, last do
  local ms, seq = string.match(ARGV[i], '^(%d+)-(%d+)$')
  ms, seq = tonumber(ms), tonumber(seq)
  if not ms then lo = nil break end
  if not lo or ms < lo_ms or (ms == lo_ms and seq < lo_seq) then lo, lo_ms, lo_seq = ARGV[i], ms, seq end
  if not hi or ms > hi_ms or (ms == hi_ms and seq > hi_seq) then hi, hi_ms, hi_seq = ARGV[i], ms, seq end
end

-- This consumer's pending ids in that range. The range also holds its other running entries, so
-- ask for room beyond the batch; a reply that fills the room may be cut short, and then the ids
-- it did not list are checked one by one.
local owned_ids, complete = {}, false
if lo then
  local room = (last - first + 1) + 1000
  local rows = redis.call('XPENDING', stream, group, lo, hi, room, consumer)
  for _, row in ipairs(rows) do owned_ids[row[1]] = true end
  complete = #rows < room
end

local owned = {}
for i = first, last do
  local id = ARGV[i]
  local mine = owned_ids[id]
  if not mine and not complete then
    mine = #redis.call('XPENDING', stream, group, id, id, 1, consumer) > 0
  end
  if mine then
    owned[#owned + 1] = id
    codes[#codes + 1] = 1
  else
    codes[#codes + 1] = 0
  end
end

-- unpack() has a limit near 8,000 values: settle in slices.
for s = 1, #owned, 500 do
  local e = math.min(s + 499, #owned)
  redis.call('XACK', stream, group, unpack(owned, s, e))
  count_removed(redis.call('XDEL', stream, unpack(owned, s, e)))
end

if track and #owned > 0 then
  local now = now_ms(nil)
  for i = first, last do
    if codes[i - first + 1] == 1 then
      local status = KEYS[i - 2]
      redis.call('HSET', status, 'state', 'completed', 'updated_at', now)
      redis.call('EXPIRE', status, ttl)
    end
  end
end
return codes
