"""The span attribute names streamq writes: OpenTelemetry's messaging conventions, then its own."""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACTION_TYPE",
    "ATTEMPT",
    "BATCH_COUNT",
    "CLIENT_ID",
    "CONSUMER_GROUP",
    "DEAD_REASON",
    "DELIVERIES",
    "DESTINATION",
    "DUPLICATE",
    "ENTITY_ID",
    "ENTITY_TYPE",
    "ERROR",
    "EVENT_ID",
    "EVENT_TYPE",
    "JOBS_QUEUED",
    "MAX_ATTEMPTS",
    "MESSAGE_ID",
    "OBSERVERS_MATCHED",
    "OPERATION_NAME",
    "OPERATION_TYPE",
    "OUTCOME",
    "RETRY_DELAY_MS",
    "SYSTEM",
    "SYSTEM_NAME",
    "TASK",
]

# Messaging semantic conventions (`messaging.*`).
SYSTEM: Final = "messaging.system"
SYSTEM_NAME: Final = "streamq"
DESTINATION: Final = "messaging.destination.name"
OPERATION_TYPE: Final = "messaging.operation.type"  # send | process
OPERATION_NAME: Final = "messaging.operation.name"
MESSAGE_ID: Final = "messaging.message.id"
CONSUMER_GROUP: Final = "messaging.consumer.group.name"
CLIENT_ID: Final = "messaging.client.id"  # the worker's consumer name
BATCH_COUNT: Final = "messaging.batch.message_count"

# streamq's own.
TASK: Final = "streamq.task"
ACTION_TYPE: Final = "streamq.action_type"
ATTEMPT: Final = "streamq.attempt"
MAX_ATTEMPTS: Final = "streamq.max_attempts"
DELIVERIES: Final = "streamq.deliveries"
EVENT_ID: Final = "streamq.event_id"
#: completed | retried | dead_lettered | not_owner | gone | released (lease lost or shutdown).
OUTCOME: Final = "streamq.outcome"
DUPLICATE: Final = "streamq.duplicate"  # an enqueue an idempotency key turned into a no-op
RETRY_DELAY_MS: Final = "streamq.retry_delay_ms"
DEAD_REASON: Final = "streamq.dead_reason"
ERROR: Final = "streamq.error"
EVENT_TYPE: Final = "streamq.event_type"
ENTITY_TYPE: Final = "streamq.entity_type"
ENTITY_ID: Final = "streamq.entity_id"
OBSERVERS_MATCHED: Final = "streamq.observers_matched"
JOBS_QUEUED: Final = "streamq.jobs_queued"
