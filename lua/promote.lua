--[[
  Move due jobs from the delay set into the stream, at most ARGV[1] per call. Safe with many
  workers calling it at once: the script is atomic, so each job is moved exactly once.

  KEYS[1] delayed       (ZSET)   streamq:{q}:delayed; member job id, score due time in ms
  KEYS[2] delayed_jobs  (HASH)   streamq:{q}:delayed:jobs; job id -> payload
  KEYS[3] stream        (STREAM) streamq:{q}:stream

  ARGV[1] limit, jobs per call (callers loop while a call moves the full limit)
  ARGV[2] now override, epoch ms (0 = the server's TIME)

  Returns {moved, missing}: jobs moved, and members without a payload (removed; always 0 unless
  keys were edited by hand). XADD is the first write, so under OOM nothing is moved.
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms

local now = now_ms(ARGV[2])
local due = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[1]))
local moved, missing = 0, 0
for _, job_id in ipairs(due) do
  local payload = redis.call('HGET', KEYS[2], job_id)
  if payload then
    redis.call('XADD', KEYS[3], '*', 'job', payload, 'id', job_id)
    moved = moved + 1
  else
    missing = missing + 1
  end
  redis.call('ZREM', KEYS[1], job_id)
  redis.call('HDEL', KEYS[2], job_id)
end
return {moved, missing}
