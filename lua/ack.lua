--[[
  Acknowledge a batch of finished entries: for each entry this consumer still owns, XACK and XDEL it
  (the stream stays small without MAXLEN) and mark its job completed with a TTL.

  KEYS[1]    stream   (STREAM) streamq:{q}:stream
  KEYS[2...] status   (HASH)   streamq:{q}:job:<id>, one per entry, in the order of ARGV[5...]

  ARGV[1]    group name
  ARGV[2]    consumer name
  ARGV[3]    status TTL after completion, seconds
  ARGV[4]    track status, "1" or "0"
  ARGV[5...] entry ids, one per status key

  Returns one code per entry: 1 acked, 0 not owner (nothing written for that entry).
  Each entry is checked on its own: ownership is XPENDING for this consumer, since XACK alone
  would accept an ack from a worker that lost the entry to a reclaim.
]]
-- luacheck: globals redis KEYS ARGV

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local ttl = tonumber(ARGV[3])
local track = ARGV[4] == '1'
--- @include now_ms

local now = now_ms(nil)
local codes = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local owned = redis.call('XPENDING', stream, group, id, id, 1, consumer)
  if #owned == 0 then
    codes[#codes + 1] = 0
  else
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
    if track then
      local status = KEYS[i - 3]
      redis.call('HSET', status, 'state', 'completed', 'updated_at', now)
      redis.call('HDEL', status, 'retry_at')
      redis.call('EXPIRE', status, ttl)
    end
    codes[#codes + 1] = 1
  end
end
return codes
