--[[
  Mark a fetched batch running, and discard the entries of cancelled jobs unrun: one call per
  batch the worker read or reclaimed, before it starts any of its jobs, so `running` (with the
  consumer and start time) costs no round trip per job, and one HSET per job in the common
  case (no cancel outstanding on the queue, a first delivery).

  A job cancelled before it started is in the cancelled set (cancel.lua wrote its end and its
  outcome, and added it): its entry is discarded here if this consumer owns it (XACK, XDEL, the
  id leaves the set, the status expires after the status TTL). A redelivered entry (a reclaim,
  or a restarted worker re-reading its own) whose job carries a cancel request while `running`
  was cancelled while running on a worker that then died: it is reported, not run, and the
  worker settles it through settle_cancel.lua. Every other job is marked `running` by this
  consumer now. A job whose status hash is missing (status tracking off, or expired) gets none:
  the hash the HSET would create is deleted again (an existing hash always has `state`, so the
  HSET adds at most two fields to it, and three only to a new one). `updated_at` is not
  written: `started_at` is when the state last changed (readers take the later of the two),
  and each field less is measurably cheaper at this rate.

  KEYS[1]    stream     (STREAM) streamq:{q}:stream
  KEYS[2]    cancelled  (ZSET)   streamq:{q}:cancelled; member job id, score when cancelled
  KEYS[3]    removed    (STRING) streamq:{q}:removed, entries streamq removed (for lua/audit.lua)
  KEYS[4...] status     (HASH)   streamq:{q}:job:<id>, one per entry, in the order of ARGV[7]

  ARGV[1]    group name
  ARGV[2]    consumer name
  ARGV[3]    status TTL once cancelled, seconds
  ARGV[4]    now override, epoch ms (0 = the server's TIME)
  ARGV[5]    redelivered: one character per entry, "1" when its delivery count is above 1
  ARGV[6]    length of the status keys' prefix `streamq:{q}:job:` (a job id is the rest)
  ARGV[7]    the entry ids, in order, separated by spaces

  The per-entry values are packed into three arguments, and the entry ids split and the job
  ids cut from their keys only while a cancel is outstanding: three arguments per entry (each
  a Lua string made per call) were a measurable part of this script's Redis time.

  Returns one code per entry: 1 run it, 2 cancelled (discarded: do not run), 3 cancel requested
  (do not run: settle it cancelled), 0 cancelled but no longer this consumer's (nothing
  written, do not run).
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms
local removed_key = KEYS[3]
--- @include count_removed

local stream, cancelled, group, consumer = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local ttl = tonumber(ARGV[3])
local now = tostring(now_ms(ARGV[4]))
-- A write Redis never refuses for memory comes first (PERSIST of the removed count, which has
-- no TTL: a no-op), so the HSETs below are allowed at maxmemory (noeviction): a worker on a full
-- server must still start, and so settle and free, what it has read (see retry.lua).
redis.call('PERSIST', removed_key)
local outstanding = redis.call('ZCARD', cancelled) > 0
local redelivered, prefix_len = ARGV[5], tonumber(ARGV[6])
local entry_ids
if outstanding then
  entry_ids = {}
  for id in string.gmatch(ARGV[7], '%S+') do entry_ids[#entry_ids + 1] = id end
end
local codes = {}
for k = 4, #KEYS do
  local status, j = KEYS[k], k - 3
  local code = 1
  local job_id = outstanding and string.sub(status, prefix_len + 1)
  if outstanding and redis.call('ZSCORE', cancelled, job_id) then
    local id = entry_ids[j]
    if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
      code = 0
    else
      redis.call('XACK', stream, group, id)
      count_removed(redis.call('XDEL', stream, id))
      redis.call('ZREM', cancelled, job_id)
      redis.call('EXPIRE', status, ttl)
      code = 2
    end
  elseif string.byte(redelivered, j) == 49 -- "1"
      and redis.call('HEXISTS', status, 'cancel_requested_at') == 1
      and redis.call('HGET', status, 'state') == 'running' then
    code = 3
  elseif redis.call('HSET', status, 'state', 'running', 'consumer', consumer, 'started_at', now)
      == 3 then
    redis.call('DEL', status)
  end
  codes[j] = code
end
return codes
