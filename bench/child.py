"""Run a benchmark step in a fresh Python process and read back its time and peak RSS.

Why a child process: the parent generated data and trained a model, and Linux carries a
process's high-water mark (``VmHWM``) across fork + exec, so only a fresh process measures
what prediction alone needs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_timed(imports: list[str], call: str, extra: str = "") -> dict:
    """Run ``call`` after ``imports`` in a child; returns ``seconds``, ``hwm_kib`` and ``extra`` keys.

    ``extra``: a Python dict-items fragment evaluated in the child after the call, e.g.
    ``"'chips': len(res)"`` when ``call`` assigns ``res``.
    """
    code = "\n".join(
        [
            f"import sys, time, json; sys.path.insert(0, {str(ROOT)!r})",
            *imports,
            "t = time.time()",
            call,
            "s = time.time() - t",
            "rss = [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')][0]",
            "print(json.dumps({'seconds': s, 'hwm_kib': rss" + (", " + extra if extra else "") + "}))",
        ]
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])
