--[[
  Claim entries that other (crashed or stalled) consumers left idle for longer than the claim
  timeout, one XAUTOCLAIM step, and report each claimed entry's delivery count so the caller can
  dead-letter crash loops before decoding anything.

  KEYS[1] stream  (STREAM) streamq:{q}:stream

  ARGV[1] group name
  ARGV[2] consumer name (the claimer)
  ARGV[3] minimum idle time, ms
  ARGV[4] cursor, an entry id ("0-0" to start)
  ARGV[5] count, entries per step

  Returns {next cursor, entries, deleted ids}. Each entry is {entry id, delivery count, fields}.
  Deleted ids are entries removed from the stream behind the engine's back: XAUTOCLAIM (7.0+)
  has already dropped them from the PEL; the caller counts them. The delivery count is bumped by
  the claim itself (no JUSTID here: JUSTID would hide crash loops).
]]
-- luacheck: globals redis KEYS ARGV

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local reply = redis.call('XAUTOCLAIM', stream, group, consumer, tonumber(ARGV[3]), ARGV[4],
  'COUNT', tonumber(ARGV[5]))
local entries = {}
for _, entry in ipairs(reply[2]) do
  local id = entry[1]
  local info = redis.call('XPENDING', stream, group, id, id, 1)
  local count = 0
  if #info > 0 then count = info[1][4] end
  entries[#entries + 1] = {id, count, entry[2]}
end
return {reply[1], entries, reply[3] or {}}
