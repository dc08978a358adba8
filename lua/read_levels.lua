--[[
  Read new entries from the streams of a queue's priority levels in the order given, filling
  `count` from the first stream before reading the next: one round trip, never more entries than
  the worker has free slots (what XREADGROUP over several streams would not give: it returns up
  to COUNT from each). Non-blocking; the worker blocks on all the streams only when this found
  nothing. The streams are levels of one queue, under one hash tag (one Cluster slot).

  KEYS[1]    stream  (STREAM) streamq:{q}:level:<name>:stream, the level read first
  KEYS[2...] stream  (STREAM) streamq:{q}:level:<name>:stream, the levels read next, in order
  (the default level's stream is the queue's own stream; the order is highest level first,
  unless the worker serves lower levels first on this read, against starvation)

  ARGV[1]    group name
  ARGV[2]    consumer name
  ARGV[3]    count: most entries to read in all (the free slots)

  Returns a flat array of triples: the 1-based index into KEYS of the entry's stream, the entry
  id, and the entry's field/value array; empty when no stream had new entries. A missing group
  raises NOGROUP, as XREADGROUP does.
]]
-- luacheck: globals redis KEYS ARGV

assert(KEYS[1], 'read_levels: no stream given')
local group, consumer, left = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS do
  if left <= 0 then break end
  local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', left,
    'STREAMS', KEYS[i], '>')
  if reply then
    for _, entry in ipairs(reply[1][2]) do
      out[#out + 1] = i
      out[#out + 1] = entry[1]
      out[#out + 1] = entry[2]
      left = left - 1
    end
  end
end
return out
