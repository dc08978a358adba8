--[[
  Fire the due ticks of one periodic schedule: enqueue one job per tick that the schedule's
  state has not passed yet, and advance the state, in one step. Every worker runs the same
  schedules; whichever comes first fires a tick, and the others find the state past it and
  add nothing. The jobs and the state are written by one script, so they replicate together:
  a failover keeps both or neither (then the tick fires again on the new primary).

  KEYS[1] stream    (STREAM) streamq:{q}:stream
  KEYS[2] schedule  (HASH)   streamq:{q}:schedule:<name>; last_tick, last_job_id, last_fired_at, spec
  KEYS[3...] per tick: status (HASH) streamq:{q}:job:<id>

  ARGV[1] advance to, epoch ms: every tick up to this instant is dealt with after this call
  ARGV[2] track status, "1" or "0"
  ARGV[3] now override, epoch ms (0 = the server's TIME; tests inject a clock here)
  ARGV[4] spec: the schedule's definition (msgspec JSON), kept for `streamq inspect schedules`
  ARGV[5] pending status TTL, ms: how long a fired job's status hash lives while the job has not
          ended (the settle scripts set the finished TTL)
  ARGV[6...] per tick, four values: tick (epoch ms), job id, payload (msgspec JSON of the Job),
             created at (epoch ms)

  Returns {fired, last_tick}: how many jobs this call enqueued, and the state's last tick
  afterwards. A tick at or before the state's last tick is not enqueued (already fired, or
  skipped), nor one whose job's status hash still exists (a state reset cannot repeat it).
  The memory-growing XADD comes first, so under OOM the script fails before writing anything.
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms

local now = now_ms(ARGV[3])
local advance = tonumber(ARGV[1])
local track = ARGV[2] == '1'
local last = tonumber(redis.call('HGET', KEYS[2], 'last_tick') or '-1')
if advance <= last then return {0, last} end

local fired = 0
local k = 3
local pending_ttl = tonumber(ARGV[5])
for i = 6, #ARGV, 4 do
  local tick, job_id, payload = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
  local status = KEYS[k]
  k = k + 1
  if tick > last and tick <= advance and redis.call('EXISTS', status) == 0 then
    redis.call('XADD', KEYS[1], '*', 'job', payload, 'id', job_id)
    if track then
      redis.call('HSET', status, 'state', 'pending', 'attempt', 1,
        'created_at', ARGV[i + 3], 'updated_at', now)
      redis.call('PEXPIRE', status, pending_ttl)
    end
    redis.call('HSET', KEYS[2], 'last_job_id', job_id, 'last_fired_tick', tick,
      'last_fired_at', now)
    fired = fired + 1
  end
end
redis.call('HSET', KEYS[2], 'last_tick', advance, 'spec', ARGV[4])
return {fired, advance}
