--[[
  Renew the concurrency slots this worker's running jobs hold in one limit (with the worker's
  lease renewal), so a long job keeps its slot while a dead worker's slots expire.

  KEYS[1] holders  (ZSET) streamq:{lim:<name>}:holders; member job id, score lease expiry ms

  ARGV[1] now override, epoch ms (0 = the server's TIME)
  ARGV[2] holder lease, ms
  ARGV[3...] job ids holding a slot

  Returns how many were renewed (a slot already expired and pruned is not taken back: its job
  goes on, and the limit may briefly count one fewer).
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms

local expiry = now_ms(ARGV[1]) + tonumber(ARGV[2])
local renewed = 0
for i = 3, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', expiry, ARGV[i])
end
if renewed > 0 then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
end
return renewed
