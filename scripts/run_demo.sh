#!/usr/bin/env bash
# Main job: install what is needed, then run the whole susceptibility pipeline on the bundled
# Ecuador sample through QGIS Processing. Extra arguments go to scripts/demo.py (--help).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup_env.sh"
source "$here/scripts/qgis_env.sh"
exec "$VENV/bin/python" "$here/scripts/demo.py" "$@"
