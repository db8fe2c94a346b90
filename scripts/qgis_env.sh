# Sourced by the run scripts: the QGIS Python environment for headless runs.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export VENV="${LANDSLIDEAI_VENV:-$here/.venv}"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
export PYTHONPATH="/usr/share/qgis/python/plugins${PYTHONPATH:+:$PYTHONPATH}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
