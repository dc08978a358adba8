"""The wheel ships the package, its Lua scripts and the CLI under the names users import."""

from __future__ import annotations

import configparser
import importlib.util
import subprocess
import sys
import zipfile
from dataclasses import dataclass

import pytest

from tests.support import REPO

# Scripts and the helpers they include (lua/include/*.lua), as paths relative to lua/.
LUA_SCRIPTS = sorted(
    path.relative_to(REPO / "lua").as_posix() for path in (REPO / "lua").rglob("*.lua")
)


@dataclass(frozen=True)
class Wheel:
    """What the tests read from the built wheel."""

    names: frozenset[str]
    entry_points: configparser.ConfigParser


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    """A wheel built from this checkout, once for the module."""
    if importlib.util.find_spec("build") is None:
        pytest.skip("the `build` package is not installed (pip install '.[dev]')")
    out_dir = tmp_path_factory.mktemp("wheel")
    # --no-isolation uses the installed hatchling: no network, and seconds instead of a minute.
    command = [sys.executable, "-m", "build", "--wheel", "--no-isolation"]
    result = subprocess.run(
        [*command, "--outdir", str(out_dir), str(REPO)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, f"wheel build failed:\n{result.stdout}\n{result.stderr}"
    (path,) = out_dir.glob("streamq-*.whl")
    with zipfile.ZipFile(path) as archive:
        names = frozenset(archive.namelist())
        (entry_points_name,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(entry_points_name).decode())
    return Wheel(names, entry_points)


def test_the_repository_has_lua_scripts() -> None:
    assert LUA_SCRIPTS, f"no *.lua files in {REPO / 'lua'}"


def test_every_lua_script_ships_inside_the_package(wheel: Wheel) -> None:
    missing = [name for name in LUA_SCRIPTS if f"streamq/lua/{name}" not in wheel.names]
    assert missing == []


def test_the_cli_ships_as_streamq_cli_not_as_a_top_level_cli(wheel: Wheel) -> None:
    assert "streamq_cli/main.py" in wheel.names
    assert [name for name in wheel.names if name.startswith("cli/")] == []


def test_the_package_is_marked_typed(wheel: Wheel) -> None:
    assert "streamq/py.typed" in wheel.names


def test_the_streamq_command_runs_the_cli_main(wheel: Wheel) -> None:
    assert wheel.entry_points["console_scripts"]["streamq"] == "streamq_cli.main:main"


def test_the_dashboard_pages_ship_inside_the_package(wheel: Wheel) -> None:
    static = REPO / "streamq" / "dashboard" / "static"
    shipped = sorted(p.name for p in static.iterdir())
    assert {"index.html", "app.js", "style.css"} <= set(shipped)
    missing = [n for n in shipped if f"streamq/dashboard/static/{n}" not in wheel.names]
    assert missing == []
