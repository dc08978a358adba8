--[[
  Record how far a running job has got, in its status hash, only while the job is unfinished:
  a report that arrives after the job settled (or after its status expired) writes nothing, so
  it can neither undo a terminal state nor re-create an expired hash without a TTL.

  KEYS[1] status (HASH) streamq:{q}:job:<id>

  ARGV[1] progress, a fraction from 0 to 1
  ARGV[2] message ("" for none)
  ARGV[3] now override, epoch ms (0 = the server's TIME)

  Returns 1 recorded, 0 the job is finished or unknown (nothing written).
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms

local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'pending' and state ~= 'running' then
  return 0
end
redis.call('HSET', KEYS[1], 'progress', ARGV[1], 'progress_message', ARGV[2],
  'progress_at', now_ms(ARGV[3]))
return 1
