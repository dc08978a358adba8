--[[
  Move due jobs from the delay set into the stream, at most ARGV[1] per call. Safe with many
  workers calling it at once: the script is atomic, so each job is moved exactly once. While the
  queue is paused nothing is moved (due retries keep waiting), and the reply says so: this is
  how a worker learns of a pause, once per poll interval, without a call of its own.

  KEYS[1] delayed       (ZSET)   streamq:{q}:delayed; member job id, score due time in ms
  KEYS[2] delayed_jobs  (HASH)   streamq:{q}:delayed:jobs; job id -> payload
  KEYS[3] stream        (STREAM) streamq:{q}:stream
  KEYS[4] paused        (STRING) streamq:{q}:paused, present while the queue is paused

  ARGV[1] limit, jobs per call (callers loop while a call moves the full limit)
  ARGV[2] now override, epoch ms (0 = the server's TIME)

  Returns {moved, missing, paused}: jobs moved, members without a payload (removed; always 0
  unless keys were edited by hand), and 1 when the queue is paused (then nothing was moved),
  else 0. XADD is the first write, so under OOM nothing is moved.
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms

if redis.call('EXISTS', KEYS[4]) == 1 then
  return {0, 0, 1}
end
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
return {moved, missing, 0}
