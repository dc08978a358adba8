--[[
  Remove an idle consumer from the group, but only if it has no pending entries and its liveness
  key has expired. XGROUP DELCONSUMER on a consumer with pending entries would strand them for ever.

  KEYS[1] stream    (STREAM) streamq:{q}:stream
  KEYS[2] liveness  (STRING) streamq:{q}:consumer:<name>

  ARGV[1] group name
  ARGV[2] consumer name

  Returns 1 deleted, 0 kept because it has pending entries, -1 kept because it is alive.
]]
-- luacheck: globals redis KEYS ARGV

if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
