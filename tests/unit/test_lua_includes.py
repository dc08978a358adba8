"""The `--- @include` step that shares Lua helpers between scripts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streamq.errors import ScriptError
from streamq.redis.keys import Keys
from streamq.redis.scripts import SCRIPT_NAMES, load_sources, resolve_includes
from tests.support import REPO

LUA_DIR = REPO / "lua"


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_script_is_loaded_with_its_includes_resolved(name: str) -> None:
    source = load_sources()[name]
    assert "@include" not in source
    if "now_ms(" in source:
        assert source.count("local function now_ms(") == 1


def test_an_include_is_replaced_by_the_helper_in_place(tmp_path: Path) -> None:
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "helper.lua").write_text("local function helper() return 1 end\n")
    source = "-- header\n--- @include helper\nreturn helper()\n"

    resolved = resolve_includes(source, tmp_path)

    assert resolved == "-- header\nlocal function helper() return 1 end\nreturn helper()\n"


def test_nested_includes_resolve(tmp_path: Path) -> None:
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "a.lua").write_text("--- @include b\nlocal a = b\n")
    (tmp_path / "include" / "b.lua").write_text("local b = 1\n")

    assert resolve_includes("--- @include a\n", tmp_path) == "local b = 1\nlocal a = b\n"


def test_a_missing_include_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="'nope' not found"):
        resolve_includes("--- @include nope\n", tmp_path)


def test_a_circular_include_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "a.lua").write_text("--- @include b\n")
    (tmp_path / "include" / "b.lua").write_text("--- @include a\n")

    with pytest.raises(ScriptError, match="circular Lua include: a -> b -> a"):
        resolve_includes("--- @include a\n", tmp_path)


def test_only_whole_include_lines_count() -> None:
    source = "-- see --- @include now_ms in the docs\nreturn 1\n"
    assert resolve_includes(source, LUA_DIR) == source


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_xdel_of_a_job_stream_is_counted_for_the_audit(name: str) -> None:
    # lua/audit.lua calls every entry that left a job stream uncounted lost: a script that
    # deleted stream entries without count_removed would make the audit cry wolf.
    source = load_sources()[name]
    deletes = re.findall(r"redis\.call\('XDEL', (\w+)", source)
    counted = re.findall(r"count_removed\(redis\.call\('XDEL', (\w+)", source)
    # The DLQ is the only other stream streamq deletes from (KEYS[1] of requeue_dead.lua).
    job_stream = [s for s in deletes if s != "KEYS" or name != "requeue_dead"]
    assert len(counted) == len(job_stream), f"{name}.lua: an XDEL without count_removed"
    if counted:
        assert re.search(r"^local removed_key = KEYS\[\d\]$", source, re.MULTILINE), name


def test_the_removed_count_sits_beside_the_stream_under_its_tag() -> None:
    for queue in ("q", "q@high", "orders#3", "orders#3@low"):
        keys = Keys(queue)
        assert keys.removed == keys.stream[: -len("stream")] + "removed"
