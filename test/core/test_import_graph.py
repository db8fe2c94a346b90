"""No import circles between the plugin's modules, imports inside functions and TYPE_CHECKING included.

Why: circles held together by imports inside functions hide which module depends on which; the
engine's layering (ARCHITECTURE.md) is only real if the graph is acyclic. The graph is read from
the source (ast), so an import placed inside a function to dodge a circle still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: circles that remain, each to be removed by a named redesign step; the test fails on any other
#: circle and on a listed one that has gone (so the list cannot go stale). Empty since the loaders
#: moved into their own modules (susceptibility/loaded.py, cracks/loaded.py) and window scoring
#: into susceptibility/scoring.py.
KNOWN: set[frozenset[str]] = set()


def _modules(pkg: str) -> dict[str, Path]:
    mods = {}
    for f in (ROOT / pkg).rglob("*.py"):
        name = ".".join(f.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = f
    return mods


def _graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        base = m.split(".") if f.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level:
                pkg = base[: len(base) - (node.level - 1)] + ([node.module] if node.module else [])
                target = ".".join(pkg)
                targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[m] |= {t for t in targets if t in mods and t != m}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[frozenset[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.add(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(frozenset(comp))
    return out


def test_the_checker_finds_a_circle_hidden_in_a_function():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [frozenset({"a", "b", "c"})]


@pytest.mark.parametrize("pkg", ["core", "algorithms", "ui", "plugin"])
def test_no_import_circles(pkg):
    found = set(_circles(_graph(_modules(pkg))))
    known = {c for c in KNOWN if next(iter(c)).startswith(pkg + ".")}
    assert found - known == set(), f"new import circle(s): {[sorted(c) for c in found - known]}"
    assert known - found == set(), f"listed circle(s) gone, remove them from KNOWN: {[sorted(c) for c in known]}"
