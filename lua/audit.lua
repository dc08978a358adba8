--[[
  Audit a job stream for entries that something other than streamq removed (an outside XTRIM,
  XDEL, or XADD with MAXLEN/MINID): such entries are jobs lost, and Redis records no trim.

  Every entry streamq removes it counts (lua/include/count_removed.lua, in each script that
  XDELs one), so at any moment, atomically here:
      entries-added − removed − length = entries removed by someone else since the last audit.
  Those are added to both `removed` (so the next audit starts from zero) and `lost` (ever).
  A trimmed entry that was pending is lost too (its run is cancelled as `gone`); one whose
  handler had already finished may still have settled `completed`: the count is of entries
  removed, an upper bound on jobs lost.

  KEYS[1] stream   (STREAM) streamq:{q}:stream
  KEYS[2] removed  (STRING) streamq:{q}:removed
  KEYS[3] lost     (STRING) streamq:{q}:lost

  Returns {found, lost}: entries found removed from outside by this call, and ever.
  The count starts with the stream: enqueue.lua sets `removed` to 0 when its XADD creates it.
  A stream without the count (made by another script, or by a streamq before this audit) gets
  one here: 0 when XINFO's max-deleted-entry-id says nothing was ever removed from it, which is
  then exact; otherwise found is -1: the count was started here, and what was removed before
  is not counted (it can't be told from streamq's own settles). A stream deleted and made anew
  (its entries-added began again at 0) has its count restarted the same way. Needs XINFO
  STREAM's entries-added and max-deleted-entry-id (Redis 7.0+).
]]
-- luacheck: globals redis KEYS ARGV

local lost = tonumber(redis.call('GET', KEYS[3]) or 0)
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, lost} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local added, length, max_deleted
for i = 1, #info, 2 do
  if info[i] == 'entries-added' then added = info[i + 1]
  elseif info[i] == 'length' then length = info[i + 1]
  elseif info[i] == 'max-deleted-entry-id' then max_deleted = info[i + 1] end
end
if not added then return {0, lost} end
local removed = redis.call('GET', KEYS[2])
if not removed and max_deleted == '0-0' then
  removed = 0
  redis.call('SET', KEYS[2], 0)
end
local found = removed and added - tonumber(removed) - length or -1
if found < 0 then
  redis.call('SET', KEYS[2], added - length)
  return {-1, lost}
end
if found > 0 then
  redis.call('INCRBY', KEYS[2], found)
  lost = redis.call('INCRBY', KEYS[3], found)
end
return {found, lost}
