-- count_removed(n): add n to `removed_key` (KEYS[..] streamq:{q}:removed, a local the script
-- binds before this include), the count of entries streamq itself has removed from the queue's
-- job stream. lua/audit.lua compares entries-added − removed − length to find the entries that
-- something else trimmed or deleted. Every script that XDELs a job stream's entries passes
-- XDEL's own reply here (an entry already trimmed counts 0: its loss was not streamq's doing).
local function count_removed(n)
  if n > 0 then redis.call('INCRBY', removed_key, n) end
end
