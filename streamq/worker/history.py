"""HistoryRecorder: what a worker did and saw, per queue and per minute, kept in Redis.

The dashboard draws its charts from this history, so it exists whether or not a page was open.
Each queue (partition, level) has one small hash per minute, `streamq:{q}:history:<minute>`
(`minute` = Redis's epoch seconds // 60), under the queue's hash tag, expiring a day after
its minute began (`HISTORY_TTL_S`). Two kinds of fields:

- counters (`HISTORY_COUNTERS`: completed, retried, dead_lettered, deferred, cancelled), summed
  over every worker with HINCRBY. The job runner only bumps an in-process dict
  (`WorkerStats.tally`); this loop flushes the deltas every `HISTORY_FLUSH_S` in one
  pipeline, so a job costs no Redis command of its own;
- samples, written once per queue per minute by whichever worker flushes in that minute
  (HSET; two workers sampling the same minute write near-identical values): the stream's
  length (`stream`), pending entries (`pending`), the delay set (`delayed`), the DLQ (`dlq`),
  the age of the oldest pending entry since it entered the stream (`oldest_ms`), the stream's
  `entries-added` counter (`added_total`: new jobs, due retries and requeues alike; its
  difference between two minutes is what was enqueued, producers need not run streamq code
  to be counted), and the sampling time (`at_ms`).

Each flush also adds the jobs settled since the last one to the queue's recently-finished set,
`streamq:{q}:finished` (a sorted set of `<outcome>|<job id>` scored by the flush time, kept to
the newest `FINISHED_KEPT` and expiring a day after its last write), for the dashboard's list.

A worker that stops flushes what it has counted; one that is killed loses at most the last
`HISTORY_FLUSH_S` of counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, cast

import structlog

from ..errors import map_redis_errors
from ..queue.queue import Queue
from ..redis.topology import AsyncClient
from .periodic import Periodic
from .stats import HISTORY_COUNTERS, WorkerStats

__all__ = ["FINISHED_KEPT", "HISTORY_FLUSH_S", "HISTORY_TTL_S", "HistoryRecorder"]

_log = structlog.get_logger("streamq.worker")

#: Seconds between two flushes of the counted outcomes.
HISTORY_FLUSH_S: Final = 5.0
#: How long a minute's hash lives after its minute began: a day at minute resolution.
HISTORY_TTL_S: Final = 24 * 3600 + 120
#: Recently finished jobs kept per queue.
FINISHED_KEPT: Final = 1000


class HistoryRecorder(Periodic):
    """Flushes per-queue outcome counts, and samples each queue once a minute.

    Args:
        redis: The worker's client.
        queues: The queues (partitions, levels) the worker serves.
        stats: The worker's counters; `stats.by_queue` is read, never reset.
        interval_s: Seconds between flushes.
    """

    name = "history"

    def __init__(
        self,
        redis: AsyncClient,
        queues: Sequence[Queue],
        stats: WorkerStats,
        interval_s: float = HISTORY_FLUSH_S,
    ) -> None:
        super().__init__(interval_s)
        self._redis = redis
        self._queues = list(queues)
        self._stats = stats
        self._flushed: dict[str, dict[str, int]] = {}
        self._sampled: dict[str, int] = {}

    async def run_once(self) -> None:
        """Add the outcomes counted since the last flush; sample queues not sampled this minute."""
        with map_redis_errors():
            seconds, micros = await self._redis.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        minute = now_ms // 60_000
        deltas = self._deltas()
        finished = list(self._stats.finished)  # taken out once written (kept on a failure)
        due = [q for q in self._queues if self._sampled.get(q.name) != minute]
        samples = await self._samples(due, now_ms) if due else {}
        if not deltas and not samples and not finished:
            return
        by_queue: dict[str, dict[str, int]] = {}
        for name, outcome, job_id in finished:
            by_queue.setdefault(name, {})[f"{outcome}|{job_id}"] = now_ms
        with map_redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                for queue in self._queues:
                    key = queue.keys.history(minute)
                    counts, sample = deltas.get(queue.name), samples.get(queue.name)
                    if not counts and not sample:
                        continue
                    for field, n in (counts or {}).items():
                        pipe.hincrby(key, field, n)
                    if sample:
                        pipe.hset(key, mapping=cast("dict[Any, Any]", sample))
                    pipe.expire(key, HISTORY_TTL_S)
                for queue in self._queues:
                    if queue.name in by_queue:
                        pipe.zadd(queue.keys.finished, cast("dict[Any, Any]", by_queue[queue.name]))
                        pipe.zremrangebyrank(queue.keys.finished, 0, -FINISHED_KEPT - 1)
                        pipe.expire(queue.keys.finished, HISTORY_TTL_S)
                await pipe.execute()
        del self._stats.finished[: len(finished)]
        for name, counts in deltas.items():
            done = self._flushed.setdefault(name, {})
            for field, n in counts.items():
                done[field] = done.get(field, 0) + n
        for name in samples:
            self._sampled[name] = minute

    async def stop(self) -> None:
        """Stop the loop, then flush what was counted since the last flush."""
        await super().stop()
        try:
            await self.run_once()
        except Exception as exc:  # a worker stopping during an outage loses the last seconds
            _log.warning("history_flush_failed", error=repr(exc))

    def _deltas(self) -> dict[str, dict[str, int]]:
        deltas: dict[str, dict[str, int]] = {}
        for name, counts in list(self._stats.by_queue.items()):
            done = self._flushed.get(name, {})
            changed = {
                field: counts[field] - done.get(field, 0)
                for field in HISTORY_COUNTERS
                if counts.get(field, 0) != done.get(field, 0)
            }
            if changed:
                deltas[name] = changed
        return deltas

    async def _samples(self, queues: Sequence[Queue], now_ms: int) -> dict[str, dict[str, int]]:
        samples: dict[str, dict[str, int]] = {}
        with map_redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                for q in queues:
                    pipe.xlen(q.keys.stream)
                    pipe.xpending(q.keys.stream, q.group)
                    pipe.zcard(q.keys.delayed)
                    pipe.xlen(q.keys.dlq)
                    pipe.xinfo_stream(q.keys.stream)
                replies: list[Any] = await pipe.execute(raise_on_error=False)
        for i, q in enumerate(queues):
            stream, pending, delayed, dlq, info = replies[i * 5 : i * 5 + 5]
            if any(isinstance(r, Exception) for r in (stream, delayed, dlq)):
                continue  # sampled again on the next flush
            sample = {"at_ms": now_ms, "stream": int(stream), "delayed": int(delayed)}
            sample["dlq"] = int(dlq)
            if not isinstance(pending, Exception):
                sample["pending"] = int(pending["pending"])
                oldest = pending.get("min")
                if oldest:
                    text = oldest.decode() if isinstance(oldest, bytes) else str(oldest)
                    sample["oldest_ms"] = max(now_ms - int(text.partition("-")[0]), 0)
            if isinstance(info, dict) and info.get("entries-added") is not None:
                sample["added_total"] = int(info["entries-added"])
            samples[q.name] = sample
        return samples
