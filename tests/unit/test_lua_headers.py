"""Lua headers agree with their `Scripts` methods; every key a script touches is in one slot."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from streamq.model.schedule import ScheduleFire, TickJob
from streamq.redis.audit import audit_stream
from streamq.redis.flow_scripts import FlowScripts
from streamq.redis.keys import Keys, LimitKeys
from streamq.redis.limit_scripts import DeferItem, GateArgs, LimitScripts
from streamq.redis.operator_scripts import OperatorScripts
from streamq.redis.scripts import (
    SCRIPT_NAMES,
    EnqueueItem,
    Scripts,
    enqueue_batch_call,
    load_sources,
)
from tests.support import REPO

LUA_DIR = REPO / "lua"
QUEUE = "orders"
SLOTS = 16384

# --- the headers -------------------------------------------------------------------------------

_DECLARATION = re.compile(r"^\s*(KEYS|ARGV)\[(\d+)(\.\.\.)?\]\s+(.*)$", re.MULTILINE)
# A documented key name such as `streamq:{q}:job:<id>`; the `<...>` part is free.
# A limit's keys (`streamq:{lim:<name>}:rate`) sit under the limit's own tag instead.
_KEY_PATTERN = re.compile(r"streamq:\{(?:q|lim:<name>)\}[\w:<>]*")


@dataclass(frozen=True)
class Header:
    """What a script's header declares: fixed KEYS/ARGV counts, variadic tails, key patterns."""

    text: str
    keys: int
    args: int
    variadic_keys: bool
    variadic_args: bool
    key_patterns: list[str | None]  # one per declared KEYS line, None when not documented
    item_patterns: list[str]  # the variadic line's keys, repeated per item in this order


def parse_header(source: str) -> Header:
    match = re.match(r"\s*--\[\[(.*?)\]\]", source, re.DOTALL)
    assert match, "a script opens with a --[[ ... ]] header"
    text = match.group(1)
    declared: dict[str, list[tuple[int, bool, str]]] = {"KEYS": [], "ARGV": []}
    for kind, index, dots, rest in _DECLARATION.findall(text):
        declared[kind].append((int(index), bool(dots), rest))
    counts = {}
    for kind, lines in declared.items():
        assert [i for i, _, _ in lines] == list(range(1, len(lines) + 1)), f"{kind} numbered 1..n"
        assert all(not dots for _, dots, _ in lines[:-1]), f"only the last {kind} is variadic"
        variadic = bool(lines) and lines[-1][1]
        counts[kind] = (len(lines) - variadic, variadic)
    patterns = []
    for _, _, rest in declared["KEYS"]:
        found = _KEY_PATTERN.search(rest)
        patterns.append(found.group(0) if found else None)
    # A variadic KEYS line may name several keys per item (`status ..., then idempotency ...`).
    item_patterns = _KEY_PATTERN.findall(declared["KEYS"][-1][2]) if counts["KEYS"][1] else []
    return Header(
        text=text,
        keys=counts["KEYS"][0],
        args=counts["ARGV"][0],
        variadic_keys=counts["KEYS"][1],
        variadic_args=counts["ARGV"][1],
        key_patterns=patterns,
        item_patterns=item_patterns,
    )


def key_regex(pattern: str, queue: str) -> re.Pattern[str]:
    """`streamq:{q}:job:<id>` → a regex matching that key of `queue`, any id."""
    tagged = pattern.replace("{q}", "{" + queue + "}").replace(
        "{lim:<name>}", "{lim:" + queue + "}"
    )
    parts = re.split(r"<\w+>", tagged)
    return re.compile(".+".join(re.escape(p) for p in parts))


HEADERS = {name: parse_header(src) for name, src in load_sources().items()}


def test_every_script_file_is_registered_and_every_name_has_a_file() -> None:
    assert sorted(p.stem for p in LUA_DIR.glob("*.lua")) == sorted(SCRIPT_NAMES)
    assert len(set(SCRIPT_NAMES)) == len(SCRIPT_NAMES)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_header_declares_keys_and_returns(name: str) -> None:
    header = HEADERS[name]
    assert header.keys >= 1, "every script touches at least one key"
    assert re.search(r"^\s*Returns\b", header.text, re.MULTILINE), "a header says what it returns"
    assert all(header.key_patterns), "each KEYS line names the key it expects"


def test_header_parser_reads_fixed_and_variadic_declarations() -> None:
    header = parse_header(
        "--[[\n  KEYS[1] stream (STREAM) streamq:{q}:stream\n"
        "  KEYS[2...] status (HASH) streamq:{q}:job:<id>, one per entry\n"
        "  ARGV[1] group\n  ARGV[2...] ids\n  Returns codes.\n]]\nreturn 1\n"
    )
    assert (header.keys, header.args) == (1, 1)
    assert header.variadic_keys
    assert header.variadic_args
    assert header.key_patterns == ["streamq:{q}:stream", "streamq:{q}:job:<id>"]
    assert key_regex("streamq:{q}:job:<id>", "q1").fullmatch("streamq:{q1}:job:a:b")
    assert not key_regex("streamq:{q}:job:<id>", "q1").fullmatch("streamq:{q2}:job:a")


# --- what the Scripts methods pass ------------------------------------------------------------

# Canned replies in the shape each script returns, enough for the typed methods to parse.
_REPLIES: dict[str, Any] = {
    "ack": [],
    "audit": [0, 0],
    "cancel": [1, b"ready"],
    "breaker_record": [b"closed", 0],
    "defer": [],
    "gate": [b"closed"],
    "renew_holders": 0,
    "complete": [],
    "settle_cancel": 1,
    "start": [],
    "dead_letter": 1,
    "delete_consumer": 1,
    "enqueue": [],
    "fire_schedule": [0, 0],
    "expire": 0,
    "progress": 1,
    "heartbeat": [[], b""],
    "job_action": 1,
    "promote": [0, 0, 0],
    "read_levels": [],
    "reclaim": [b"0-0", [], []],
    "release": [],
    "requeue_dead": [],
    "retry": [1, 0],
}


@dataclass(frozen=True)
class Call:
    name: str
    keys: list[str]
    args: list[Any]


class _RecordingScript:
    """Stands in for redis-py's `AsyncScript`: records the call instead of running it."""

    def __init__(self, name: str, calls: list[Call]) -> None:
        self._name = name
        self._calls = calls

    async def __call__(self, keys: Sequence[str], args: Sequence[Any], client: Any = None) -> Any:
        self._calls.append(Call(self._name, list(keys), list(args)))
        return _REPLIES[self._name]


class _FakeClient:
    """Only what `Scripts.__init__` needs: `register_script`, answered with a recorder."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._names = {src: name for name, src in load_sources().items()}

    def register_script(self, source: str) -> _RecordingScript:
        return _RecordingScript(self._names[source], self.calls)


Invoke = Callable[[Scripts], Awaitable[Any]]


def invocations(
    keys: Keys, n: int, job_id: str = "job-1", consumer: str = "w-1"
) -> dict[str, Invoke]:
    """One call of every method; batch methods get `n` items."""
    ids = [f"{i}-0" for i in range(1, n + 1)]
    enqueue = enqueue_batch_call(
        keys,
        [EnqueueItem(f"{job_id}{i}", b"{}", 0, 1, "order-7" if n % 2 else None) for i in range(n)],
        delay_ms=0,
        run_at_ms=0,
        track_status=True,
        idempotency_ttl_ms=1000,
        now_ms=0,
        pending_status_ttl_ms=1000,
    )
    common: dict[str, Any] = {"group": "g", "consumer": consumer}
    limit = LimitKeys(keys.queue)
    holders = [f"{job_id}{i}" for i in range(n)]
    return {
        "breaker_record": lambda s: LimitScripts(s).breaker_record(
            limit,
            failures=5,
            window_ms=1000,
            cooldown_ms=1000,
            max_cooldown_ms=2000,
            outcomes=[(h, True) for h in holders],
        ),
        "defer": lambda s: LimitScripts(s).defer(
            keys,
            items=[DeferItem(i, f"{job_id}{i}", b"{}", 10, "rate:x") for i in ids],
            track_status=True,
            pending_status_ttl_ms=1000,
            **common,
        ),
        "gate": lambda s: LimitScripts(s).gate(limit, GateArgs(), holders),
        "renew_holders": lambda s: LimitScripts(s).renew_holders(
            limit, lease_ms=1000, holders=holders
        ),
        "ack": lambda s: s.ack(
            keys,
            entries=[(i, f"{job_id}{i}") for i in ids],
            status_ttl_s=60,
            track_status=True,
            **common,
        ),
        "audit": lambda s: audit_stream(s, keys),
        "cancel": lambda s: FlowScripts(s).cancel(
            keys, job_id=job_id, levels=[keys] * n, status_ttl_s=60, pending_status_ttl_ms=1000
        ),
        "settle_cancel": lambda s: FlowScripts(s).settle_cancel(
            keys, entry_id="1-0", job_id=job_id, status_ttl_s=60, **common
        ),
        "start": lambda s: FlowScripts(s).start(
            keys, entries=[(i, f"{job_id}{i}", False) for i in ids], status_ttl_s=60, **common
        ),
        "complete": lambda s: s.complete(
            keys,
            entries=[(i, f"{job_id}{i}", 60, b"42") for i in ids],
            status_ttl_s=60,
            track_status=True,
            **common,
        ),
        "dead_letter": lambda s: s.dead_letter(
            keys,
            entry_id="1-0",
            job_id=job_id,
            reason="poison",
            last_error="e",
            attempt=1,
            status_ttl_s=60,
            track_status=True,
            dlq_max_entries=10,
            **common,
        ),
        "delete_consumer": lambda s: s.delete_consumer(keys, **common),
        "enqueue": lambda s: s.enqueue_batch(*enqueue),
        "expire": lambda s: s.expire(
            keys,
            entry_id="1-0",
            job_id=job_id,
            expires_at_ms=1,
            status_ttl_s=60,
            track_status=True,
            result_ttl_s=60,
            **common,
        ),
        "fire_schedule": lambda s: s.fire_schedule(
            keys,
            ScheduleFire(
                "nightly", 5000, b"{}", [TickJob(i, f"{job_id}{i}", b"{}", 0) for i in range(n)]
            ),
            track_status=True,
            pending_status_ttl_ms=60_000,
        ),
        "heartbeat": lambda s: s.heartbeat(
            keys, liveness_ttl_ms=1000, liveness_value="h", entry_ids=ids, **common
        ),
        "job_action": lambda s: OperatorScripts(s).job_action(
            keys, action="delete", group="g", job_id=job_id, entry_id="1-0"
        ),
        "progress": lambda s: s.progress(keys, job_id=job_id, fraction=0.5, message="m"),
        "promote": lambda s: s.promote(keys, limit=10),
        # One level read first, then 3 more per item: their streams are the keys.
        "read_levels": lambda s: s.read_levels(
            [Keys(f"{keys.queue}@l{i}") for i in range(1 + 3 * n)], count=10, **common
        ),
        "reclaim": lambda s: s.reclaim(keys, min_idle_ms=1000, cursor="0-0", count=10, **common),
        "release": lambda s: s.release(keys, entry_ids=ids, **common),
        "requeue_dead": lambda s: s.requeue_dead(
            keys,
            items=[(i, f"{job_id}{i}", b"{}") for i in ids],
            track_status=True,
            pending_status_ttl_ms=1000,
        ),
        "retry": lambda s: s.retry(
            keys,
            entry_id="1-0",
            job_id=job_id,
            payload=b"{}",
            delay_ms=0,
            attempt=2,
            last_error="e",
            track_status=True,
            pending_status_ttl_ms=1000,
            **common,
        ),
    }


async def record(name: str, keys: Keys, n: int, **names: str) -> Call:
    client = _FakeClient()
    scripts = Scripts(client)  # type: ignore[arg-type]
    await invocations(keys, n, **names)[name](scripts)
    [call] = client.calls
    assert call.name == name
    return call


def test_every_script_has_an_invocation() -> None:
    assert sorted(invocations(Keys(QUEUE), 1)) == sorted(SCRIPT_NAMES)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
async def test_method_passes_what_the_header_declares(name: str) -> None:
    header = HEADERS[name]
    keys = Keys(QUEUE)

    empty = await record(name, keys, 0)
    batch = await record(name, keys, 3)

    # With an empty batch only the fixed part is passed.
    assert len(empty.keys) == header.keys
    assert len(empty.args) == header.args
    # A batch adds to the variadic tail only, a whole number of items per entry.
    extra_keys, extra_args = len(batch.keys) - header.keys, len(batch.args) - header.args
    for extra, variadic in ((extra_keys, header.variadic_keys), (extra_args, header.variadic_args)):
        assert extra % 3 == 0
        assert (extra > 0) is variadic
    # Every key is the one the header names for its position (the order is right); the
    # variadic tail repeats the item's keys in the order the header gives them.
    for i, key in enumerate(batch.keys):
        if i < header.keys:
            pattern = header.key_patterns[i]
        else:
            per_item = header.item_patterns
            pattern = per_item[(i - header.keys) % len(per_item)]
        assert pattern is not None
        assert key_regex(pattern, QUEUE).fullmatch(key), (i + 1, key, pattern)


# --- the Lua bodies ---------------------------------------------------------------------------

# Where a command's keys are: the argument index (after the command name) of its only key, or
# "all" for commands whose every argument is a key. A command missing here fails the lint until
# someone says where its keys are.
_KEY_ARGUMENT: dict[str, int | str | None] = {
    "TIME": None,
    "DEL": "all",
    "EXISTS": "all",
    "EXPIRE": 0,
    "PEXPIRE": 0,
    "PERSIST": 0,
    "GET": 0,
    "HDEL": 0,
    "HEXISTS": 0,
    "HGET": 0,
    "HINCRBY": 0,
    "HMGET": 0,
    "ZSCORE": 0,
    "HSET": 0,
    "INCR": 0,
    "INCRBY": 0,
    "SET": 0,
    "XACK": 0,
    "XADD": 0,
    "XAUTOCLAIM": 0,
    "XCLAIM": 0,
    "XDEL": 0,
    "XGROUP": 1,  # XGROUP <subcommand> <key> ...
    "XINFO": 1,  # XINFO STREAM <key>
    "XLEN": 0,
    "XPENDING": 0,
    "XRANGE": 0,
    "XREADGROUP": 6,  # XREADGROUP GROUP g c COUNT n STREAMS <key> >
    "XTRIM": 0,
    "ZADD": 0,
    "ZCARD": 0,
    "ZRANGE": 0,
    "ZREM": 0,
    "ZREMRANGEBYSCORE": 0,
}
_KEYS_EXPRESSION = re.compile(r"KEYS\[[^\[\]]+\]")


def strip_comments(source: str) -> str:
    source = re.sub(r"--\[\[.*?\]\]", "", source, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", "", source)


def split_arguments(text: str) -> list[str]:
    """Split a Lua argument list on its top-level commas (outside strings and brackets)."""
    parts, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += ch
    parts.append(current.strip())
    return parts


def redis_calls(code: str) -> list[list[str]]:
    """The argument lists of every `redis.call(...)` / `redis.pcall(...)` in `code`."""
    calls = []
    for match in re.finditer(r"redis\.p?call\(", code):
        depth, end = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(code[end], 0)
            end += 1
        calls.append(split_arguments(code[match.end() : end - 1]))
    return calls


def key_locals(code: str) -> dict[str, list[str]]:
    """Each local name and every expression assigned to it with `local a, b = x, y`."""
    bound: dict[str, list[str]] = {}
    for names, values in re.findall(r"\blocal\s+([\w\s,]+?)\s*=\s*([^\n]+)", code):
        for name, value in zip(
            (n.strip() for n in names.split(",")), split_arguments(values), strict=False
        ):
            bound.setdefault(name, []).append(value)
    return bound


def key_expression_ok(expression: str, bound: dict[str, list[str]]) -> bool:
    if _KEYS_EXPRESSION.fullmatch(expression):
        return ".." not in expression
    values = bound.get(expression, [])
    return bool(values) and all(_KEYS_EXPRESSION.fullmatch(v) for v in values)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_key_a_script_touches_comes_from_keys(name: str) -> None:
    code = strip_comments(load_sources()[name])
    bound = key_locals(code)
    calls = redis_calls(code)
    assert calls
    for args in calls:
        command = args[0].strip("'\"").upper()
        assert command in _KEY_ARGUMENT, f"{name}: teach this lint where {command}'s keys are"
        where = _KEY_ARGUMENT[command]
        key_args = args[1:] if where == "all" else [] if where is None else [args[1 + where]]
        for expression in key_args:
            assert key_expression_ok(expression, bound), (
                f"{name}: {command} uses the key {expression!r}; keys must come from KEYS so "
                "the cluster can route the script (no names built with `..` inside Lua)"
            )


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ("local s = KEYS[1]\nredis.call('XLEN', s)", True),
        ("redis.call('HSET', KEYS[i - 3], 'a', 1)", True),
        ("redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])", True),
        ("redis.call('GET', 'streamq:{q}:' .. ARGV[1])", False),
        ("redis.call('GET', KEYS[1] .. ':x')", False),
        ("local k = ARGV[1]\nredis.call('GET', k)", False),
        ("redis.call('XGROUP', 'DELCONSUMER', ARGV[3], ARGV[1], ARGV[2])", False),
        ("redis.call('DEL', KEYS[1], 'other')", False),
    ],
)
def test_key_lint_catches_built_key_names(source: str, ok: bool) -> None:
    bound = key_locals(source)
    found = []
    for args in redis_calls(source):
        where = _KEY_ARGUMENT[args[0].strip("'")]
        key_args = args[1:] if where == "all" else [args[1 + int(str(where))]]
        found.extend(key_expression_ok(e, bound) for e in key_args)
    assert all(found) is ok


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_reads_exactly_the_declared_keys_and_args(name: str) -> None:
    header = HEADERS[name]
    code = strip_comments(load_sources()[name])
    for kind, fixed, variadic in (
        ("KEYS", header.keys, header.variadic_keys),
        ("ARGV", header.args, header.variadic_args),
    ):
        used = {int(i) for i in re.findall(rf"\b{kind}\[(\d+)\]", code)}
        # A variadic tail is read from its first index on, or with a computed index.
        limit = fixed + 1 if variadic else fixed
        assert {i for i in used if i > limit} == set(), f"{name} reads undeclared {kind}"
        assert set(range(1, fixed + 1)) - used == set(), f"{name} declares unread {kind}"


# --- cluster slots ----------------------------------------------------------------------------


def crc16(data: bytes) -> int:
    """CRC16/XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster hashes keys with."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key: str) -> int:
    """The cluster slot of `key`: only its first non-empty `{...}` is hashed, if there is one."""
    raw = key.encode()
    start = raw.find(b"{")
    if start != -1:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1 : end]
    return crc16(raw) % SLOTS


@pytest.mark.parametrize(
    ("key", "slot"),
    [
        # Values from the Redis Cluster specification and CLUSTER KEYSLOT.
        ("123456789", 0x31C3 % SLOTS),
        ("foo", 12182),
        ("hello", 866),
        ("{user1000}.following", key_slot("user1000")),
        ("foo{}{bar}", crc16(b"foo{}{bar}") % SLOTS),
        ("foo{{bar}}zap", crc16(b"{bar") % SLOTS),
        ("foo{bar}{zap}", crc16(b"bar") % SLOTS),
    ],
)
def test_key_slot_matches_redis_cluster(key: str, slot: int) -> None:
    assert key_slot(key) == slot


_LIMIT_SCRIPTS = frozenset({"gate", "breaker_record", "renew_holders"})


@pytest.mark.parametrize("queue", [QUEUE, "q#0", "q#1", "emails.high"])
@pytest.mark.parametrize("name", SCRIPT_NAMES)
async def test_every_key_of_a_call_is_in_the_queue_slot(name: str, queue: str) -> None:
    # Braces in ids and consumer names must not move a key: only the first `{...}` counts.
    call = await record(name, Keys(queue), 3, job_id="x}{y", consumer="w{1}")

    # A limit's scripts run on the limit's own tag (shared by every queue it guards).
    tag = f"lim:{queue}" if name in _LIMIT_SCRIPTS else queue
    assert {key_slot(k) for k in call.keys} == {key_slot("{" + tag + "}")}
