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

  Returns {found, lost}: entries found removed from outside by this call, and ever. found is -1
  when the count was (re)started here: the first audit of a stream streamq did not count from
  its start (a queue created before this audit existed), or a stream deleted and made anew
  (its entries-added began again at 0). Needs XINFO STREAM's entries-added (Redis 7.0+).
]]
-- luacheck: globals redis KEYS ARGV

local lost = tonumber(redis.call('GET', KEYS[3]) or 0)
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, lost} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local added, length
for i = 1, #info, 2 do
  if info[i] == 'entries-added' then added = info[i + 1]
  elseif info[i] == 'length' then length = info[i + 1] end
end
if not added then return {0, lost} end
local removed = redis.call('GET', KEYS[2])
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
