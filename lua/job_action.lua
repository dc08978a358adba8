--[[
  An operator's action on one job that has not started: run a delayed job now, or delete a ready
  or delayed job for good. Atomic, and safe against the workers: a ready entry that a worker has
  read (it is pending in the group) is left alone, it is that consumer's to settle.

  KEYS[1] stream        (STREAM) streamq:{q}:stream
  KEYS[2] delayed       (ZSET)   streamq:{q}:delayed; member job id, score due time in ms
  KEYS[3] delayed_jobs  (HASH)   streamq:{q}:delayed:jobs; job id -> payload
  KEYS[4] status        (HASH)   streamq:{q}:job:<id>
  KEYS[5] removed       (STRING) streamq:{q}:removed, entries streamq removed (for lua/audit.lua)

  ARGV[1] action: 'run_now' (a delayed job into the stream now) or 'delete'
  ARGV[2] group name
  ARGV[3] job id
  ARGV[4] the ready job's stream entry id, or '' for a delayed job

  Returns 1 done; 0 not there (promoted, run or deleted meanwhile); -1 the entry was delivered
  (a worker runs it: untouched); -2 the entry holds another job (untouched); -3 run_now of a
  ready job (it is in the stream already). run_now's XADD is its first write, so under maxmemory
  (noeviction) nothing is moved; a delete only frees memory.
]]
-- luacheck: globals redis KEYS ARGV
local removed_key = KEYS[5]
--- @include count_removed

local action, group, job_id, entry_id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if entry_id == '' then
  local payload = redis.call('HGET', KEYS[3], job_id)
  if not payload or not redis.call('ZSCORE', KEYS[2], job_id) then
    return 0
  end
  if action == 'run_now' then
    redis.call('XADD', KEYS[1], '*', 'job', payload, 'id', job_id)
  end
  redis.call('ZREM', KEYS[2], job_id)
  redis.call('HDEL', KEYS[3], job_id)
  if action == 'delete' then
    redis.call('DEL', KEYS[4])
  end
  return 1
end
if action ~= 'delete' then
  return -3
end
local entry = redis.call('XRANGE', KEYS[1], entry_id, entry_id)
if #entry == 0 then
  return 0
end
local fields, id = entry[1][2], nil
for i = 1, #fields, 2 do
  if fields[i] == 'id' then
    id = fields[i + 1]
  end
end
if id ~= job_id then
  return -2
end
-- No group yet: nothing was ever delivered.
local held = redis.pcall('XPENDING', KEYS[1], group, entry_id, entry_id, 1)
if type(held) == 'table' and held.err == nil and #held > 0 then
  return -1
end
count_removed(redis.call('XDEL', KEYS[1], entry_id))
redis.call('DEL', KEYS[4])
return 1
