"""The Job payload: round trips, schema evolution, and bad input."""

from __future__ import annotations

import json
import os
import uuid

import msgspec
import pytest

from streamq.errors import DecodeFailure
from streamq.model.job import (
    MAX_PAYLOAD_BYTES,
    TERMINAL_STATES,
    Backoff,
    BackoffStrategy,
    Job,
    JobState,
    TaskAction,
    decode_job,
    encode_job,
    new_job_id,
)
from streamq.model.records import status_from_hash


def test_round_trip_keeps_every_field() -> None:
    job = Job(
        action=TaskAction(name="send", args=[1, "x"], kwargs={"k": [1, 2]}),
        queue="emails",
        event_id="7d5e6a31-8bd5-4c57-9f43-5d9e9bf1c1a0",
        attempt=3,
        max_attempts=4,
        backoff=Backoff(strategy=BackoffStrategy.LINEAR, initial_delay_ms=5, jitter=0.2),
        state=JobState.RUNNING,
        last_error="boom",
        retry_at=123,
        timeout_s=2.5,
        idempotency_key="order-1",
    )
    assert decode_job(encode_job(job)) == job


def test_the_action_is_a_tagged_union() -> None:
    payload = json.loads(encode_job(Job(action=TaskAction(name="t"))))
    assert payload["action"] == {"type": "task", "name": "t"}


def test_an_old_payload_with_only_the_required_fields_still_decodes() -> None:
    job = decode_job(b'{"id": "a", "action": {"type": "task", "name": "t"}}')
    assert (job.id, job.attempt, job.max_attempts, job.state) == ("a", 1, 6, JobState.PENDING)
    assert job.backoff == Backoff()


def test_unknown_fields_from_a_newer_producer_are_ignored() -> None:
    job = decode_job(b'{"id": "a", "action": {"type": "task", "name": "t"}, "future": 1}')
    assert job.id == "a"


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\x00garbage",
        b"",
        b"[]",
        b'{"id": "a"}',
        b'{"id": "a", "action": {"type": "nope", "name": "t"}}',
        b'{"id": "a", "action": {"type": "task", "name": 5}}',
        b'{"id": "a", "action": {"type": "task", "name": "t"}, "attempt": "x"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_bad_payloads_raise_decode_failure(raw: bytes) -> None:
    with pytest.raises(DecodeFailure):
        decode_job(raw)


def test_oversized_payloads_are_refused_before_parsing() -> None:
    raw = b'{"id": "a", "action": {"type": "task", "name": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}}'
    with pytest.raises(DecodeFailure, match="exceeds"):
        decode_job(raw)


def test_jobs_are_frozen() -> None:
    job = Job(action=TaskAction(name="t"))
    with pytest.raises(AttributeError):
        job.attempt = 2  # type: ignore[misc]
    assert msgspec.structs.replace(job, attempt=2).attempt == 2


def test_every_job_gets_its_own_uuid() -> None:
    ids = {Job(action=TaskAction(name="t")).id for _ in range(1000)}
    assert len(ids) == 1000


def test_job_ids_are_rfc4122_version_4_uuids_and_never_repeat() -> None:
    ids = [new_job_id() for _ in range(5000)]  # several draws of the pooled entropy
    assert len(set(ids)) == len(ids)
    for job_id in ids:
        parsed = uuid.UUID(job_id)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == job_id


def test_a_forked_child_does_not_reuse_its_parents_pooled_ids() -> None:
    new_job_id()  # the pool now holds ids the parent will hand out next
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, new_job_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent_ids = {new_job_id() for _ in range(300)}
    assert child_id not in parent_ids


def test_a_running_jobs_status_reads_its_start_as_its_last_change() -> None:
    raw = {b"state": b"running", b"updated_at": b"100", b"started_at": b"250", b"consumer": b"w1"}
    status = status_from_hash("a", raw)
    assert status is not None
    assert (status.state, status.consumer, status.started_at, status.updated_at) == (
        JobState.RUNNING, "w1", 250, 250
    )  # fmt: skip
    ended = status_from_hash("a", {**raw, b"state": b"completed", b"updated_at": b"300"})
    assert ended is not None
    assert ended.updated_at == 300


def test_a_retry_at_left_in_the_hash_speaks_only_for_a_waiting_job() -> None:
    # ack.lua leaves an earlier wait's retry_at in the hash (an HDEL per job cost Redis CPU)
    for state, shown in [
        (b"pending", 900), (b"retrying", 900), (b"deferred", 900),
        (b"running", None), (b"completed", None), (b"dead_lettered", None), (b"cancelled", None),
    ]:  # fmt: skip
        status = status_from_hash("a", {b"state": state, b"retry_at": b"900"})
        assert status is not None
        assert status.retry_at == shown, state


def test_job_cancelled_is_false_outside_a_worker() -> None:
    assert Job(action=TaskAction(name="t")).cancelled is False


def test_cancelled_is_a_terminal_state_and_retrying_deferred_are_not() -> None:
    assert JobState.CANCELLED in TERMINAL_STATES
    assert not {JobState.RETRYING, JobState.DEFERRED, JobState.RUNNING} & TERMINAL_STATES
