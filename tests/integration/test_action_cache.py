"""The cache action against real servers: keys unlinked by pattern, globs only from the template."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio

from streamq.actions.cache import SCAN_COUNT, glob_escape, has_glob
from streamq.errors import PermanentActionError, TemplateError, TransientActionError
from streamq.model.actions import CacheAction
from streamq.model.event import Event
from streamq.observers import ActionRuntime, ActionSettings
from tests.integration.conftest import free_port


@pytest.fixture
def prefix() -> str:
    return f"cachetest-{uuid.uuid4().hex[:8]}"


@pytest_asyncio.fixture
async def cache(redis_url: str, prefix: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.unlink(*keys)
    await client.aclose()


@pytest_asyncio.fixture
async def runtime(redis_url: str) -> AsyncIterator[ActionRuntime]:
    async with ActionRuntime(ActionSettings(cache_redis_url=redis_url)) as rt:
        yield rt


def event(**data: object) -> Event:
    return Event(
        id=str(uuid.uuid4()), event_type="UPDATE", entity_type="Order", entity_id="o-42",
        data=dict(data),
    )  # fmt: skip


async def keys(client: redis.asyncio.Redis, prefix: str) -> set[str]:
    return {k.decode() async for k in client.scan_iter(match=f"{prefix}:*")}


@pytest.mark.parametrize(
    ("text", "escaped"),
    [("plain", "plain"), ("a*b", "a\\*b"), ("q?", "q\\?"), ("[x]", "\\[x\\]"), ("b\\s", "b\\\\s")],
)
def test_glob_escape_makes_a_value_match_only_itself(text: str, escaped: str) -> None:
    assert glob_escape(text) == escaped


@pytest.mark.parametrize(
    ("literal", "glob"),
    [("order:", False), ("order:*", True), ("o?", True), ("o[ab]", True), ("o\\*", False)],
)
def test_a_glob_is_an_unescaped_star_question_mark_or_bracket(literal: str, glob: bool) -> None:
    assert has_glob(literal) is glob


async def test_a_pattern_without_glob_unlinks_the_one_key(
    runtime: ActionRuntime, cache: redis.asyncio.Redis, prefix: str
) -> None:
    # Given the cached order and a neighbour
    await cache.set(f"{prefix}:order:o-42", "cached")
    await cache.set(f"{prefix}:order:o-43", "cached")
    # when a cache action names the order's key from the event
    action = CacheAction(key_pattern=f"{prefix}:order:{{{{ entity_id }}}}")
    await runtime.execute(action, event(), job_id="j1")
    # then only that key is gone
    assert await keys(cache, prefix) == {f"{prefix}:order:o-43"}


async def test_a_glob_pattern_scans_and_unlinks_every_match_in_batches(
    runtime: ActionRuntime, cache: redis.asyncio.Redis, prefix: str
) -> None:
    # Given more matching keys than one SCAN batch, and keys that must stay
    many = SCAN_COUNT * 3 + 7
    await cache.mset({f"{prefix}:order:o-42:page:{i}": "x" for i in range(many)})
    await cache.mset({f"{prefix}:order:o-420:page:1": "x", f"{prefix}:customer:o-42": "x"})
    # when the template's own glob asks for every page of the order
    action = CacheAction(key_pattern=f"{prefix}:order:{{{{ entity_id }}}}:*")
    await runtime.execute(action, event(), job_id="j1")
    # then every page is gone, and nothing else
    assert await keys(cache, prefix) == {f"{prefix}:order:o-420:page:1", f"{prefix}:customer:o-42"}


async def test_event_values_are_glob_escaped_so_they_cannot_widen_the_match(
    runtime: ActionRuntime, cache: redis.asyncio.Redis, prefix: str
) -> None:
    # Given keys of two users, and an event whose value is itself a glob
    await cache.mset({f"{prefix}:user:*:a": "x", f"{prefix}:user:alice:a": "x"})
    action = CacheAction(key_pattern=f"{prefix}:user:{{{{ name }}}}:*")
    # when the cache action runs for the user literally named "*"
    await runtime.execute(action, event(name="*"), job_id="j1")
    # then only that user's keys go: the value matched itself, not every user
    assert await keys(cache, prefix) == {f"{prefix}:user:alice:a"}


async def test_a_literal_key_keeps_glob_characters_of_the_value(
    runtime: ActionRuntime, cache: redis.asyncio.Redis, prefix: str
) -> None:
    # Given a key whose name holds glob characters, and no glob in the template
    await cache.mset({f"{prefix}:q:a?[1]": "x", f"{prefix}:q:ab1": "x"})
    action = CacheAction(key_pattern=f"{prefix}:q:{{{{ name }}}}")
    await runtime.execute(action, event(name="a?[1]"), job_id="j1")
    # then exactly the named key is unlinked (UNLINK takes no glob)
    assert await keys(cache, prefix) == {f"{prefix}:q:ab1"}


async def test_the_cache_may_be_another_redis_than_the_queues(
    redis_url: str, cache: redis.asyncio.Redis, prefix: str
) -> None:
    # The runtime talks to the Redis its settings name, with no queue involved at all.
    await cache.set(f"{prefix}:k", "x")
    async with ActionRuntime(ActionSettings(cache_redis_url=redis_url)) as rt:
        await rt.execute(CacheAction(key_pattern=f"{prefix}:k"), event(), job_id="j1")
    assert await keys(cache, prefix) == set()


async def test_no_cache_configured_is_permanent() -> None:
    async with ActionRuntime(ActionSettings()) as rt:
        with pytest.raises(PermanentActionError, match="cache_redis_url"):
            await rt.execute(CacheAction(key_pattern="k"), event(), job_id="j1")


async def test_an_unreachable_redis_is_transient() -> None:
    settings = ActionSettings(cache_redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with ActionRuntime(settings) as rt:
        with pytest.raises(TransientActionError, match="cache: "):
            await rt.execute(CacheAction(key_pattern="k:*"), event(), job_id="j1")


async def test_a_placeholder_matching_nothing_is_a_template_error(runtime: ActionRuntime) -> None:
    with pytest.raises(TemplateError):
        await runtime.execute(CacheAction(key_pattern="k:{{ nope }}"), event(), job_id="j1")
