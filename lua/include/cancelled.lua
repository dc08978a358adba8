-- mark_cancelled(status, result, now, ttl): the end every cancel path writes: the status says
-- `cancelled` and expires after the status TTL, and the job's outcome stream holds one
-- `cancelled` entry with the same TTL, so a waiting `result()` wakes and raises JobCancelled.
local function mark_cancelled(status, result, now, ttl)
  redis.call('HSET', status, 'state', 'cancelled', 'updated_at', now)
  redis.call('HDEL', status, 'retry_at')
  redis.call('EXPIRE', status, ttl)
  redis.call('DEL', result)
  redis.call('XADD', result, '*', 'state', 'cancelled', 'error', 'cancelled')
  redis.call('EXPIRE', result, ttl)
end
