--[[
  Hold back jobs a limit or breaker refused: move each owned entry, payload unchanged (the same
  attempt: a deferral consumes none), into the delay set due after its wait, then XACK and XDEL
  the entry; promote.lua brings it back. Ownership-checked per entry, as retry.lua.

  KEYS[1] stream        (STREAM) streamq:{q}:stream
  KEYS[2] delayed       (ZSET)   streamq:{q}:delayed
  KEYS[3] delayed_jobs  (HASH)   streamq:{q}:delayed:jobs
  KEYS[4] removed       (STRING) streamq:{q}:removed, entries streamq removed (for lua/audit.lua)
  KEYS[5...] status     (HASH)   streamq:{q}:job:<id>, one per entry, in ARGV order

  ARGV[1] group name
  ARGV[2] consumer name
  ARGV[3] track status, "1" or "0"
  ARGV[4] now override, epoch ms (0 = the server's TIME)
  ARGV[5] pending status TTL, ms (counted from the due time)
  ARGV[6...] quintets (entry id, job id, payload, wait ms, reason "rate|<limit>" ...)

  Returns one code per entry: 1 deferred, 0 not owner (nothing written for it). XACK is each
  move's first write, as in retry.lua (allowed under OOM, and it frees the entry it moves).
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms
local removed_key = KEYS[4]
--- @include count_removed

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local now = now_ms(ARGV[4])
local track, ttl = ARGV[3] == '1', tonumber(ARGV[5])
local codes = {}
local n = 0
for i = 6, #ARGV, 5 do
  n = n + 1
  local id, job_id, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local due = now + math.max(tonumber(ARGV[i + 3]), 1)
  if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
    codes[n] = 0
  else
    redis.call('XACK', stream, group, id)
    redis.call('HSET', KEYS[3], job_id, payload)
    redis.call('ZADD', KEYS[2], due, job_id)
    count_removed(redis.call('XDEL', stream, id))
    if track then
      local status = KEYS[4 + n]
      redis.call('HSET', status, 'state', 'deferred', 'deferred_by', ARGV[i + 4],
        'retry_at', due, 'updated_at', now)
      redis.call('PEXPIRE', status, due - now + ttl)
    end
    codes[n] = 1
  end
end
return codes
