#!/usr/bin/env bash
# Idempotent set-up on Debian 12 as root: distribution packages (QGIS + one shared GDAL),
# then a virtual environment that sees them (--system-site-packages) with the pinned extras.
# Re-running is cheap: apt and pip skip what is already there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LANDSLIDEAI_VENV:-$here/.venv}"

APT_PKGS=(qgis python3-qgis python3-gdal python3-rasterio python3-shapely python3-sklearn
          python3-scipy python3-matplotlib python3-pyqtgraph python3-pyqt6 python3-venv python3-pip xvfb imagemagick)
missing=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${missing[@]}" qgis-providers
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
stamp="$VENV/.requirements.sha"
want="$(cat "$here/requirements.txt" "$here/resources/requirements-user.txt" "$here/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] pip install -r requirements.txt (numpy pinned by constraints.txt)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r "$here/requirements.txt" -c "$here/constraints.txt"
  echo "$want" > "$stamp"
fi
"$VENV/bin/python" - <<'PY'
import numpy, osgeo.gdal, rasterio, torch
print(f"[setup] ok: numpy {numpy.__version__}, GDAL {osgeo.gdal.__version__}, rasterio {rasterio.__version__}, torch {torch.__version__}")
PY
