"""The house rules of `streamq/`: wings by role, imports going only downward, no circles.

Every import of every module is read from its source (those under `TYPE_CHECKING` and inside
functions included), so a new upward import or circle fails here, not in a reader's head. The
README's Development section draws the same floors.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import REPO

PACKAGE = REPO / "streamq"
CLI = REPO / "cli" / "streamq_cli"

#: Each wing's floor. A module may import its own wing and any wing on a lower floor; two wings
#: on one floor never import each other (so `worker`, `inspector` and `observers` stay apart).
FLOORS: dict[str, int] = {
    "errors": 0,
    "clock": 0,
    "_version": 0,
    "model": 1,
    "redis": 2,
    "embedded": 2,
    "tracing": 2,
    "metrics": 3,
    "actions": 3,
    "queue": 4,
    "worker": 5,
    "inspector": 5,
    "observers": 5,
    "config": 6,
    "dashboard": 7,
    "demo": 8,
    "__init__": 9,
}
#: What may stand at the package root besides the wings.
ROOT_MODULES = {"__init__", "errors", "clock", "demo", "_version"}
MAX_LINES = 450


@dataclass(frozen=True)
class Import:
    """One import statement's target, as seen from `source` (a dotted module name)."""

    source: str
    target: str
    names: tuple[str, ...]
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target} {list(self.names)}"


def _module_name(path: Path, top: Path, package: str) -> str:
    parts = list(path.relative_to(top).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def _modules(top: Path, package: str) -> dict[str, Path]:
    return {_module_name(p, top, package): p for p in sorted(top.rglob("*.py"))}


MODULES = _modules(PACKAGE, "streamq")


def _imports(name: str, path: Path) -> Iterator[Import]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            names = tuple(a.name for a in node.names)
            # `from . import x` names a module when x is one.
            submodules = [n for n in names if f"{target}.{n}" in MODULES]
            if submodules and len(submodules) == len(names):
                for n in names:
                    yield Import(name, f"{target}.{n}", (), node.lineno)
            else:
                yield Import(name, target, names, node.lineno)


def _wing(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _internal(imports: Iterator[Import]) -> list[Import]:
    return [i for i in imports if i.target == "streamq" or i.target.startswith("streamq.")]


EDGES = [i for name, path in MODULES.items() for i in _internal(_imports(name, path))]


def test_every_module_belongs_to_a_wing_with_a_floor() -> None:
    assert sorted({_wing(m) for m in MODULES} - set(FLOORS)) == []


def test_the_package_root_holds_only_the_public_api_errors_clock_and_demo() -> None:
    root = {p.stem for p in PACKAGE.glob("*.py")}
    assert root <= ROOT_MODULES


def test_imports_go_only_down_the_floors() -> None:
    wrong = []
    for edge in EDGES:
        here, there = _wing(edge.source), _wing(edge.target)
        if here == there:
            continue
        if FLOORS[there] >= FLOORS[here]:
            wrong.append(f"{edge} ({here} on floor {FLOORS[here]}, {there} on {FLOORS[there]})")
    assert wrong == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _module_of(target: str) -> str | None:
    """The module an import reaches: `streamq.queue.queue`, or the package `streamq.queue`."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def test_no_import_circles_not_even_through_type_checking_imports() -> None:
    graph: dict[str, set[str]] = {}
    for edge in EDGES:
        target = _module_of(edge.target)
        # A wing's face (`__init__`) re-exports its rooms; a room importing its own face would
        # be a circle, and so is caught here like any other.
        if target is not None and target != edge.source:
            graph.setdefault(edge.source, set()).add(target)
    assert _cycles(graph) == []


def test_the_rules_test_sees_a_circle_and_an_upward_import() -> None:
    # The checker itself: a made-up circle is found, and a made-up upward import is wrong.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert FLOORS[_wing("streamq.queue.queue")] > FLOORS[_wing("streamq.redis.keys")]


@pytest.mark.parametrize(
    ("wing", "allowed_from"),
    [
        ("cli", None),
        ("dashboard", "streamq.dashboard"),
    ],
)
def test_the_cli_and_the_dashboard_use_only_public_names(
    wing: str, allowed_from: str | None
) -> None:
    # Public names: `streamq` itself, a wing's face (`streamq.queue`), or a root module
    # (`streamq.errors`); never a room inside another wing, never a `_private` name.
    if wing == "cli":
        sources = _modules(CLI, "streamq_cli")
        edges = [i for n, p in sources.items() for i in _internal(_imports(n, p))]
    else:
        edges = [e for e in EDGES if _wing(e.source) == "dashboard"]
    faces = {"streamq"} | {m for m in MODULES if m.count(".") == 1}
    wrong = [
        str(e)
        for e in edges
        if not (allowed_from and e.target.startswith(allowed_from))
        and (e.target not in faces or any(n.startswith("_") for n in e.names))
    ]
    assert wrong == []


def test_no_module_is_longer_than_a_sitting() -> None:
    sources = [*PACKAGE.rglob("*.py"), *CLI.rglob("*.py")]
    long = {
        str(p.relative_to(REPO)): n
        for p in sources
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
