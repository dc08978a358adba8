--[[
  Move dead-lettered entries back into the stream with their attempt count reset. The caller reads
  the DLQ entries and builds each new payload; this script checks that each entry is still in the
  DLQ, so two operators requeueing the same entry at once cannot enqueue it twice.

  KEYS[1]    dlq     (STREAM) streamq:{q}:dlq
  KEYS[2]    stream  (STREAM) streamq:{q}:stream
  KEYS[3...] status  (HASH)   streamq:{q}:job:<id>, one per entry

  ARGV[1]    track status, "1" or "0"
  ARGV[2...] triples: DLQ entry id, job id ("" when unknown), payload to enqueue

  Returns one code per entry: 1 requeued, 0 no longer in the DLQ (nothing written).
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms

local now = now_ms(nil)
local codes = {}
local k = 3
for i = 2, #ARGV, 3 do
  local dead_id, job_id, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if #redis.call('XRANGE', KEYS[1], dead_id, dead_id) == 0 then
    codes[#codes + 1] = 0
  else
    redis.call('XADD', KEYS[2], '*', 'job', payload, 'id', job_id)
    redis.call('XDEL', KEYS[1], dead_id)
    if ARGV[1] == '1' and job_id ~= '' then
      redis.call('DEL', KEYS[k])
      redis.call('HSET', KEYS[k], 'state', 'pending', 'attempt', 1, 'updated_at', now)
    end
    codes[#codes + 1] = 1
  end
  k = k + 1
end
return codes
