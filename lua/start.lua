--[[
  Mark a fetched batch running, and discard the entries of cancelled jobs unrun: one call per
  batch the worker read or reclaimed, before it starts any of its jobs, so `running` (with the
  consumer and start time) costs no round trip per job.

  For each entry: a job whose status says `cancelled` (cancelled before it started: cancel.lua
  wrote its end and its outcome) is discarded here if this consumer owns the entry: XACK, XDEL,
  and its status expires after the status TTL. A job whose status carries a cancel request
  while `running` (cancelled while running on a worker that then died: this entry is its
  reclaim) is reported, not run: the worker settles it through settle_cancel.lua. Any other
  job still unfinished (`pending`, `retrying`, `deferred`, or `running` on a reclaim) is marked
  `running` by this consumer now. A job without a status hash (status tracking off, or
  expired) or already ended (a duplicate delivery) is left as it is, and runs as before.

  KEYS[1]    stream  (STREAM) streamq:{q}:stream
  KEYS[2...] status  (HASH)   streamq:{q}:job:<id>, one per entry, in the order of ARGV[5...]

  ARGV[1]    group name
  ARGV[2]    consumer name
  ARGV[3]    status TTL once cancelled, seconds
  ARGV[4]    now override, epoch ms (0 = the server's TIME)
  ARGV[5...] entry ids, one per status key

  Returns one code per entry: 1 run it, 2 cancelled (discarded: do not run), 3 cancel requested
  (do not run: settle it cancelled), 0 cancelled but no longer this consumer's (nothing
  written, do not run). Two commands per job on the common path (HMGET, HSET).
]]
-- luacheck: globals redis KEYS ARGV

--- @include now_ms

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local ttl = tonumber(ARGV[3])
local now = now_ms(ARGV[4])
local codes = {}
for i = 5, #ARGV do
  local id, status = ARGV[i], KEYS[i - 3]
  local found = redis.call('HMGET', status, 'state', 'cancel_requested_at')
  local state, requested = found[1], found[2]
  if state == 'cancelled' then
    if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
      codes[#codes + 1] = 0
    else
      redis.call('XACK', stream, group, id)
      redis.call('XDEL', stream, id)
      redis.call('EXPIRE', status, ttl)
      codes[#codes + 1] = 2
    end
  elseif requested and state == 'running' then
    codes[#codes + 1] = 3
  else
    if state == 'pending' or state == 'retrying' or state == 'deferred' or state == 'running' then
      redis.call('HSET', status, 'state', 'running', 'consumer', consumer, 'started_at', now,
        'updated_at', now)
    end
    codes[#codes + 1] = 1
  end
end
return codes
