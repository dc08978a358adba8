--[[
  Acknowledge a batch of finished entries whose jobs keep their result: for each entry this
  consumer still owns, XACK and XDEL it, store the job's return value in its result stream
  (replacing any earlier outcome) with a TTL, and mark its job completed. Result and ack are one
  write, so a result exists exactly when the job is completed: a worker that dies between the
  handler's end and this call leaves the entry pending, and the rerun writes the result.

  KEYS[1]    stream   (STREAM) streamq:{q}:stream
  KEYS[2]    removed  (STRING) streamq:{q}:removed, entries streamq removed (for lua/audit.lua)
  KEYS[3...] per entry, two keys: status (HASH) streamq:{q}:job:<id>, then result (STREAM) streamq:{q}:result:<id>

  ARGV[1]    group name
  ARGV[2]    consumer name
  ARGV[3]    status TTL after completion, seconds
  ARGV[4]    track status, "1" or "0"
  ARGV[5...] per entry, three values: entry id, result TTL (seconds), result (msgspec JSON)

  Returns one code per entry: 1 acked, 0 not owner (nothing written for that entry).
  Only jobs that ask for a result come here (the others go through ack.lua), so ownership is
  checked entry by entry. The result stream is read from id 0 by any number of waiters
  (XREAD BLOCK), who all see the one entry, however late they come. A `retry_at` left from an
  earlier wait stays, as in ack.lua.
]]
-- luacheck: globals redis KEYS ARGV

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local ttl = tonumber(ARGV[3])
local track = ARGV[4] == '1'
--- @include now_ms
local removed_key = KEYS[2]
--- @include count_removed

local now = nil
local codes = {}
local k = 3
for i = 5, #ARGV, 3 do
  local id, result_ttl, result = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local status, result_key = KEYS[k], KEYS[k + 1]
  k = k + 2
  if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
    codes[#codes + 1] = 0
  else
    now = now or now_ms(nil)
    redis.call('XACK', stream, group, id)
    count_removed(redis.call('XDEL', stream, id))
    redis.call('DEL', result_key)
    redis.call('XADD', result_key, '*', 'state', 'completed', 'result', result)
    redis.call('EXPIRE', result_key, result_ttl)
    if track then
      redis.call('HSET', status, 'state', 'completed', 'updated_at', now)
      redis.call('EXPIRE', status, ttl)
    end
    codes[#codes + 1] = 1
  end
end
return codes
