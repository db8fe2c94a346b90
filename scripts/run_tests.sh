#!/usr/bin/env bash
# Test suite: install what is needed, check style (ruff check + format), Qt 6 readiness
# (scripts/check_qt6.py) and the engine's types (mypy on core/),
# then run the tiers (engine, algorithms in real QGIS, plugin loading). Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup_env.sh"
source "$here/scripts/qgis_env.sh"
cd "$here"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/python" scripts/check_qt6.py
"$VENV/bin/python" -m mypy
exec "$VENV/bin/python" -m pytest "$@"
