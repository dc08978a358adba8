--[[
  Move dead-lettered entries back into the stream with their attempt count reset. The caller reads
  the DLQ entries and builds each new payload; this script checks that each entry is still in the
  DLQ, so two operators requeueing the same entry at once cannot enqueue it twice.

  KEYS[1]    dlq     (STREAM) streamq:{q}:dlq
  KEYS[2]    stream  (STREAM) streamq:{q}:stream
  KEYS[3...] status  (HASH)   streamq:{q}:job:<id>, one per entry

  ARGV[1]    track status, "1" or "0"
  ARGV[2]    pending status TTL, ms (the fresh status hash expires after it unless the job ends)
  ARGV[3...] triples: DLQ entry id, job id ("" when unknown), payload to enqueue

  The new stream entry gets `job` (the given payload) if the dead letter has a `job` field, `id`
  (unless both it and `job` are missing), and every `field:F` of the dead letter back as F: an entry of
  another shape goes back as it was.

  Returns one code per entry: 1 requeued, 0 no longer in the DLQ (nothing written).
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms

local now = now_ms(nil)
local codes = {}
local k = 3
for i = 3, #ARGV, 3 do
  local dead_id, job_id, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local found = redis.call('XRANGE', KEYS[1], dead_id, dead_id)
  if #found == 0 then
    codes[#codes + 1] = 0
  else
    local fields = found[1][2]
    local add, restored = {}, {}
    for f = 1, #fields, 2 do
      local name = fields[f]
      if name == 'job' then
        add[#add + 1], add[#add + 2] = 'job', payload
      elseif string.sub(name, 1, 6) == 'field:' then
        restored[#restored + 1], restored[#restored + 2] = string.sub(name, 7), fields[f + 1]
      end
    end
    if job_id ~= '' or #add > 0 or #restored == 0 then
      add[#add + 1], add[#add + 2] = 'id', job_id
    end
    for _, v in ipairs(restored) do add[#add + 1] = v end
    redis.call('XADD', KEYS[2], '*', unpack(add))
    redis.call('XDEL', KEYS[1], dead_id)
    if ARGV[1] == '1' and job_id ~= '' then
      redis.call('DEL', KEYS[k])
      redis.call('HSET', KEYS[k], 'state', 'pending', 'attempt', 1, 'updated_at', now)
      redis.call('PEXPIRE', KEYS[k], tonumber(ARGV[2]))
    end
    codes[#codes + 1] = 1
  end
  k = k + 1
end
return codes
