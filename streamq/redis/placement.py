"""Placement: which cluster primary holds each partition of a partitioned queue, and a slot-move
plan that would spread them evenly.

A partition's keys all share its hash tag (`{q#i}`), so a partition lives on the primary that
serves that tag's slot. Which slot a tag hashes to is fixed by its name (CRC16), and which
primary serves a slot is the cluster's slot map: on a 3-primary cluster the 6 partitions of one
queue can fall 1/1/4, and then one shard carries two thirds of the queue. The worker checks
this at start (`check_placement` in the worker's preflight) and warns with the moves below.

Names stay as they are (moving a queue to other key names would strand the keys of queues that
exist); the remedy is to move the named slots (README, "Partitions on a cluster").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from .keys import Keys
from .topology import AsyncClient

__all__ = ["Move", "Placement", "placement_of", "plan_moves", "slot_of"]


def slot_of(queue: str, prefix: str = "streamq") -> int:
    """The cluster slot every key of queue (or partition) `queue` is in."""
    return key_slot(Keys(queue, prefix).stream.encode())


@dataclasses.dataclass(frozen=True)
class Move:
    """Move `slot` (partition `queue`'s) from primary `source` to primary `target`."""

    queue: str
    slot: int
    source: str
    target: str


@dataclasses.dataclass(frozen=True)
class Placement:
    """The partitions on each primary (`host:port`), every primary listed (even with none)."""

    by_primary: dict[str, list[str]]

    @property
    def counts(self) -> dict[str, int]:
        """How many partitions each primary holds."""
        return {node: len(names) for node, names in self.by_primary.items()}

    @property
    def even(self) -> bool:
        """Each primary holds ⌊P/N⌋ or ⌈P/N⌉ partitions (no primary has 2 more than another)."""
        counts = list(self.counts.values())
        return not counts or max(counts) - min(counts) <= 1


def plan_moves(placement: Placement, prefix: str = "streamq") -> list[Move]:
    """The fewest slot moves that make `placement` even: a partition from the fullest primary
    to the emptiest, until no primary holds two more than another.

    A slot holds only its own partition's keys here (other queues' keys in the same slot move
    with it, which is harmless: a cluster client follows MOVED).
    """
    held = {node: list(names) for node, names in placement.by_primary.items()}
    moves: list[Move] = []
    while held:
        fullest = max(held, key=lambda n: (len(held[n]), n))
        emptiest = min(held, key=lambda n: (len(held[n]), n))
        if len(held[fullest]) - len(held[emptiest]) <= 1:
            break
        queue = held[fullest].pop()
        held[emptiest].append(queue)
        moves.append(Move(queue, slot_of(queue, prefix), fullest, emptiest))
    return moves


def _address(node: object) -> str:
    return f"{getattr(node, 'host', '?')}:{getattr(node, 'port', '?')}"


async def placement_of(
    client: AsyncClient, partitions: Sequence[str], prefix: str = "streamq"
) -> Placement | None:
    """Where `partitions` (queue names) live now; `None` when `client` is not a cluster's."""
    if not isinstance(client, RedisCluster):
        return None
    await client.initialize()  # a no-op once the client has its slot map
    # The client's own slot map: the one its commands are routed by.
    by_primary: dict[str, list[str]] = {_address(node): [] for node in client.get_primaries()}
    for name in partitions:
        node = client.get_node_from_key(Keys(name, prefix).stream)
        by_primary.setdefault(_address(node), []).append(name)
    return Placement(by_primary)
