--[[
  Hand entries this consumer owns back to the queue for immediate redelivery (graceful shutdown,
  or an operator releasing a gone consumer's entries): each is re-added at the tail of the stream
  with the same fields, then XACKed and XDELed.

  KEYS[1] stream    (STREAM) streamq:{q}:stream
  KEYS[2] removed   (STRING) streamq:{q}:removed, entries streamq removed (for lua/audit.lua)
  KEYS[3] liveness  (STRING) streamq:{q}:consumer:<name>, the consumer's liveness key

  ARGV[1]    group name
  ARGV[2]    consumer name
  ARGV[3]    '1': only if the consumer is gone (nothing is released while KEYS[3] exists: the
             consumer is alive and its entries are its own to settle); '0': regardless
  ARGV[4...] entry ids

  Returns one code per entry: 1 released, 0 not owner (untouched), -1 deleted behind the engine's
  back (acked, nothing to release), 2 untouched because the consumer is alive (ARGV[3] = '1'
  and KEYS[3] exists). XACK is the first write, so under maxmemory (noeviction) the
  hand-back still runs to the end (see retry.lua).
]]
-- luacheck: globals redis KEYS ARGV
local removed_key = KEYS[2]
--- @include count_removed

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local codes = {}
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then
  for i = 4, #ARGV do
    codes[#codes + 1] = 2
  end
  return codes
end
for i = 4, #ARGV do
  local id = ARGV[i]
  if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
    codes[#codes + 1] = 0
  else
    local entry = redis.call('XRANGE', stream, id, id)
    if #entry == 0 then
      redis.call('XACK', stream, group, id)
      codes[#codes + 1] = -1
    else
      redis.call('XACK', stream, group, id)
      redis.call('XADD', stream, '*', unpack(entry[1][2]))
      count_removed(redis.call('XDEL', stream, id))
      codes[#codes + 1] = 1
    end
  end
end
return codes
