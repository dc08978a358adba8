--[[
  Mark a fetched batch running, and discard the entries of cancelled jobs unrun: one call per
  batch the worker read or reclaimed, before it starts any of its jobs, so `running` (with the
  consumer and start time) costs no round trip per job.

  For each entry: a job whose status says `cancelled` (cancelled before it started) or carries
  a cancel request (cancelled while running on a worker that then died: this entry is the
  reclaim) is settled `cancelled` here, if this consumer owns the entry: XACK, XDEL, status
  and outcome written with the status TTL; it must not run. Any other job still unfinished
  (`pending`, `retrying`, `deferred`, or `running` on a reclaim) is marked `running` by this
  consumer now. A job without a status hash (status tracking off, or expired) or already
  ended (a duplicate delivery) is left as it is, and runs as before.

  KEYS[1]    stream  (STREAM) streamq:{q}:stream
  KEYS[2...] per entry, two keys: status (HASH) streamq:{q}:job:<id>, then result (STREAM) streamq:{q}:result:<id>

  ARGV[1]    group name
  ARGV[2]    consumer name
  ARGV[3]    status TTL once cancelled, seconds
  ARGV[4]    now override, epoch ms (0 = the server's TIME)
  ARGV[5...] entry ids, one per pair of keys

  Returns one code per entry: 1 run it, 2 cancelled (discarded, do not run), 0 cancelled but no
  longer this consumer's (nothing written, do not run).
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms
--- @include cancelled

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local ttl = tonumber(ARGV[3])
local now = now_ms(ARGV[4])
local codes = {}
local k = 2
for i = 5, #ARGV do
  local id, status, result = ARGV[i], KEYS[k], KEYS[k + 1]
  k = k + 2
  local found = redis.call('HMGET', status, 'state', 'cancel_requested_at')
  local state, requested = found[1], found[2]
  if state == 'cancelled' or (requested and state == 'running') then
    if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
      codes[#codes + 1] = 0
    else
      redis.call('XACK', stream, group, id)
      redis.call('XDEL', stream, id)
      mark_cancelled(status, result, now, ttl)
      codes[#codes + 1] = 2
    end
  else
    if state == 'pending' or state == 'retrying' or state == 'deferred' or state == 'running' then
      redis.call('HSET', status, 'state', 'running', 'consumer', consumer, 'started_at', now,
        'updated_at', now)
    end
    codes[#codes + 1] = 1
  end
end
return codes
