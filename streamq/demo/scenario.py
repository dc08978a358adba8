"""What the demo sets up: its observers (as a user would write them) and the events it emits."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from ..model.event import Event, EventKind, FieldChange
from ..observers.definitions import Observer, parse_observers

__all__ = ["CACHE_PAGES", "SECRET_ENV", "Scenario", "demo_observers", "make_scenario"]

#: The environment variable the webhook's signing secret is read from (never in the config).
SECRET_ENV: Final = "STREAMQ_DEMO_SIGNING_SECRET"
#: Cached pages the demo seeds per order; a paid order's cache action invalidates all of them.
CACHE_PAGES: Final = 3

# What a user would write in streamq.toml; @BASE@ and @CACHE@ are filled in at run time.
OBSERVERS_TOML: Final = """
[observers.order_paid]
event_type = "INSERT"
entity = "Order"
condition = "total >= 100"
retry = { max_attempts = 3, initial_delay_ms = 50, max_delay_ms = 500 }

[[observers.order_paid.actions]]
type = "webhook"
url = "@BASE@/orders"
signing_secret_env = "STREAMQ_DEMO_SIGNING_SECRET"
body_template = '{"order": "{{ entity_id }}", "total": {{ total }}}'

[[observers.order_paid.actions]]
type = "slack"
webhook_url = "@BASE@/slack"
message_template = "Order *{{ entity_id }}* paid: {{ total }} EUR"

[[observers.order_paid.actions]]
type = "email"
to_template = "{{ email }}"
subject_template = "Your order {{ entity_id }}"
body_template = "Thank you! We received {{ total }} EUR."

[[observers.order_paid.actions]]
type = "cache"
key_pattern = "@CACHE@:order:{{ entity_id }}:*"

[observers.order_shipped]
event_type = "UPDATE"
entity = "Order"
condition = "field_changed_to('status', 'shipped')"
retry = { max_attempts = 4, initial_delay_ms = 50, max_delay_ms = 500 }

[[observers.order_shipped.actions]]
type = "webhook"
url = "@BASE@/tracking"

[observers.refund_issued]
event_type = "INSERT"
entity = "Refund"
retry = { max_attempts = 3, initial_delay_ms = 50, max_delay_ms = 500 }

[[observers.refund_issued.actions]]
type = "webhook"
url = "@BASE@/ledger"
"""


def demo_observers(base_url: str, cache_prefix: str) -> list[Observer]:
    """The demo's observers, pointed at its receivers and its cache keys."""
    import tomllib

    text = OBSERVERS_TOML.replace("@BASE@", base_url).replace("@CACHE@", cache_prefix)
    return parse_observers(tomllib.loads(text)["observers"], "streamq demo")


@dataclass(frozen=True)
class Scenario:
    """The events to emit, and what the observers should make of them.

    Attributes:
        events: In emission order.
        paid: Orders of 100 or more (four actions each: webhook, Slack, email, cache).
        small: Orders under 100 (the condition skips them).
        shipped: Updates to `shipped` (one flaky webhook each).
        packed: Updates to another status (the condition skips them).
        refunds: Refunds (one webhook each to a target that is down).
    """

    events: list[Event]
    paid: list[str]
    small: list[str]
    shipped: list[str]
    packed: list[str]
    refunds: list[str]

    @property
    def planned_jobs(self) -> int:
        """Jobs the events call for."""
        return 4 * len(self.paid) + len(self.shipped) + len(self.refunds)


def make_scenario(orders: int, *, seed: int = 7) -> Scenario:
    """`orders` new orders (about three in four of 100 or more), a third of the paid ones
    shipped, a few other updates and refunds; the same for the same seed."""
    rng = random.Random(seed)
    events: list[Event] = []
    paid: list[str] = []
    small: list[str] = []
    for i in range(orders):
        order = f"ord-{i + 1:04d}"
        total = rng.choice((120, 250, 99, 480, 1500, 35, 310, 180))
        (paid if total >= 100 else small).append(order)
        data = {"total": total, "email": f"customer{i + 1}@shop.example", "status": "paid"}
        events.append(Event(event_type=EventKind.INSERT, entity_type="Order", entity_id=order,
                            data=data))  # fmt: skip
    shipped = paid[: max(1, len(paid) // 3)]
    packed = paid[len(shipped) : len(shipped) + max(1, len(paid) // 6)]
    for order, status in [(o, "shipped") for o in shipped] + [(o, "packed") for o in packed]:
        change = {"status": FieldChange("paid", status)}
        events.append(Event(event_type=EventKind.UPDATE, entity_type="Order", entity_id=order,
                            data={"status": status}, changes=change))  # fmt: skip
    refunds = [f"ref-{i + 1:03d}" for i in range(max(1, orders // 12))]
    for refund, order in zip(refunds, paid, strict=False):
        events.append(Event(event_type=EventKind.INSERT, entity_type="Refund", entity_id=refund,
                            data={"order": order, "amount": 20}))  # fmt: skip
    return Scenario(events, paid, small, shipped, packed, refunds[: len(paid)])
