--[[
  Renew the leases of the entries a worker is running and refresh its liveness key. A lease is
  renewed only if the entry is still pending for this consumer: XCLAIM with min-idle 0 alone would
  steal it back from whoever reclaimed it. JUSTID resets the idle time without counting a delivery.

  The liveness key says which process holds the consumer name; every ownership check compares
  consumer names only, so the name must be exclusive. It is checked first: when another process
  holds it (it took the name over after this worker's liveness expired), nothing is renewed and
  nothing is written, and the worker must fence itself. A key that merely expired, with no one
  taking it, is taken again.

  KEYS[1] stream    (STREAM) streamq:{q}:stream
  KEYS[2] liveness  (STRING) streamq:{q}:consumer:<name>

  ARGV[1]    group name
  ARGV[2]    consumer name
  ARGV[3]    liveness TTL, ms
  ARGV[4]    liveness value (who holds the name: host, pid and a token per worker)
  ARGV[5...] entry ids being run

  Returns {codes, taken_by}. codes has one code per entry: 1 lease renewed, 0 lease lost (the
  worker must cancel that job and write nothing more for it), -1 the entry was deleted behind
  the engine's back (XCLAIM has dropped it from the PEL, so the lease is lost too). taken_by is
  "" while the name is this worker's; otherwise it is the other holder's value and codes is
  empty.

  Leases must be renewed even when the server is at maxmemory (noeviction), or every running job
  would be reclaimed and run twice: XCLAIM and PEXPIRE are never refused for memory, and the
  liveness key is only SET (which is) when it has expired, through pcall, after the leases are
  renewed.
]]
-- luacheck: globals redis KEYS ARGV

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[4] then
  return {{}, holder}
end
local codes = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
    codes[#codes + 1] = 0
  elseif #redis.call('XCLAIM', stream, group, consumer, 0, id, 'JUSTID') == 0 then
    -- XCLAIM (7.0+) drops a deleted entry from the PEL instead of claiming it: not a renewal.
    codes[#codes + 1] = -1
  else
    codes[#codes + 1] = 1
  end
end
if holder then
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
else
  redis.pcall('SET', KEYS[2], ARGV[4], 'PX', tonumber(ARGV[3]), 'NX')
end
return {codes, ''}
