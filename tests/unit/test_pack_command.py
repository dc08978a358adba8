"""`pack_command` writes exactly what redis-py's packer writes, and refuses what it cannot send."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.connection import Connection

from streamq.redis.held import pack_command

CASES: list[tuple[Any, ...]] = [
    ("PING",),
    ("XADD", "streamq:{q}:stream", "*", "job", b'{"a":1}', "id", "j1"),
    ("EVALSHA", "a" * 40, 2, "k1", "k2", 0, -7, 86_400_000, b"", ""),
    ("SET", "caf\u00e9", b"\x00\xff\r\n", 1.5),
    ("SET", "big", b"x" * 70_000),
    ("SET", "floats", 0.1, 1e20, 2.5e-07, 100.0, 12345678901234),
]


@pytest.mark.parametrize("args", CASES, ids=[str(c[0]) + str(len(c)) for c in CASES])
def test_pack_command_matches_redis_py(args: tuple[Any, ...]) -> None:
    assert pack_command(*args) == b"".join(Connection().pack_command(*args))


def test_subclasses_of_str_and_int_are_sent_by_value() -> None:
    class Name(str):
        pass

    class Count(int):
        pass

    assert pack_command(Name("q"), Count(3)) == pack_command("q", 3)


@pytest.mark.parametrize("bad", [True, None, object(), ["list"]])
def test_what_redis_cannot_take_is_refused(bad: Any) -> None:
    with pytest.raises(TypeError):
        pack_command("SET", "k", bad)


def test_other_encodings_and_byte_buffers_are_packed_as_redis_py_packs_them() -> None:
    args = ("SET", "caf\u00e9", bytearray(b"k"), memoryview(b"v"))
    assert pack_command(*args, encoding="latin-1") == b"".join(
        Connection(encoding="latin-1").pack_command(*args)
    )
    assert pack_command(*args) == b"".join(Connection().pack_command(*args))
