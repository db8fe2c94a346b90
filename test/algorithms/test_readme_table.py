"""The README's algorithm table names, for every algorithm, the one engine call and the CLI command that share it.

Why a test: the table is how a newcomer finds the engine behind an algorithm; a renamed function or a
new algorithm would leave it wrong without anyone noticing.
"""

import importlib
import inspect
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `([a-z_]+)` \| [^|]+ \| `([a-z_.]+)` \| `([a-z -]+)` \|", re.M)


def test_every_algorithm_has_a_row_whose_engine_call_the_adapter_and_the_cli_both_make(qgis_app):
    from landslide_ai.algorithms.provider import algorithm_classes
    from landslide_ai.core.__main__ import COMMANDS

    rows = {m.group(1): (m.group(2), m.group(3)) for m in ROW.finditer((ROOT / "README.md").read_text())}
    names = {cls().name() for cls in algorithm_classes()}
    assert names == set(rows), names ^ set(rows)
    for cls in algorithm_classes():
        engine, cli = rows[cls().name()]
        module, fn = engine.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(f"landslide_ai.core.{module}"), fn)), engine
        # the adapter (or the adapter it extends) calls that function
        adapter = "".join(
            inspect.getsource(k) for k in cls.__mro__ if k.__module__.startswith("landslide_ai.algorithms.")
        )
        assert re.search(rf"\b{fn}\(", adapter), f"{cls().name()} does not call {engine}"
        command = cli.split()[0]
        assert command in COMMANDS, cli
        # the command calls it, directly or through a function of the same engine module (an OGR writer)
        mod = importlib.import_module(f"landslide_ai.core.{module}")
        cmd = inspect.getsource(COMMANDS[command])
        via = [getattr(mod, n) for n in re.findall(r"\b(\w+)\(", cmd) if inspect.isfunction(getattr(mod, n, None))]
        reached = cmd + "".join(inspect.getsource(f) for f in via)
        assert re.search(rf"\b{fn}\(", reached), f"`{cli}` does not call {engine}"
