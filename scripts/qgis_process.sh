#!/usr/bin/env bash
# qgis_process with this checkout as an enabled plugin, in a dedicated QGIS profile.
# Usage: bash scripts/qgis_process.sh run landslideai:lsm_predict -- MODEL=... STACK=... OUTPUT=... ZONING=...
# Debian's qgis_process wrapper passes a flag that QGIS 3.22 rejects, so the binary is called.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/qgis_env.sh"
cfg="${LANDSLIDEAI_QGIS_PROFILE:-$here/.qgis_profile}"
mkdir -p "$cfg/profiles/default/python/plugins" "$cfg/profiles/default/QGIS"
ln -sfn "$here" "$cfg/profiles/default/python/plugins/landslide_ai"
ini="$cfg/profiles/default/QGIS/QGIS3.ini"
grep -q '^landslide_ai=true' "$ini" 2>/dev/null || printf '[PythonPlugins]\nlandslide_ai=true\n' >> "$ini"
export QGIS_CUSTOM_CONFIG_PATH="$cfg"
export PYTHONPATH="$VENV/lib/python3.11/site-packages:$PYTHONPATH"
exec /usr/bin/qgis_process.bin "$@"
