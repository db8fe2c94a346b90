#!/usr/bin/env bash
# The test suite on the QGIS versions people use, each in a Debian root made with debootstrap:
#   trixie -> QGIS 3.40 (Python 3.13, numpy 2), sid -> QGIS 3.44 LTR (Python 3.14).
# Usage (as root, from the repository root):
#   bash scripts/test_qgis_versions.sh trixie [pytest args]    # or: sid
# The root is kept in .qgis_roots/<suite> and reused; the checkout is bind-mounted at /src. Inside,
# a venv with --system-site-packages gets resources/requirements-user.txt's packages that install
# from PyPI for that Python (no numpy pin: the distribution's numpy is kept by pip's resolver).
# The package registry here may serve a snapshot whose Release file is past its Valid-Until date
# (sid), so apt is told not to refuse it for age; packages are still checked against their signatures.
# PROJ_DATA: Debian's pyproj finds its data from sys.prefix, which in the venv is /opt/venv (QGIS's own
# Python, where users run, has /usr). LANDSLIDEAI_MINIMAL=1 runs only the tiers that need no torch (QGIS, the engine's torch-free
# chain, the installer), which is what a fresh QGIS user has before installing anything.
set -euo pipefail
suite="${1:-trixie}"; shift || true
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$here/.qgis_roots/$suite"
if [ ! -x "$root/usr/bin/qgis_process" ] && [ ! -x "$root/usr/bin/qgis_process.bin" ] && [ ! -f "$root/.qgis-installed" ]; then
  command -v debootstrap >/dev/null || apt-get install -y -q debootstrap
  if [ ! -x "$root/bin/bash" ]; then
    mkdir -p "$root"
    debootstrap --variant=minbase "$suite" "$root" http://deb.debian.org/debian
  fi
  chroot "$root" /bin/bash -c "export DEBIAN_FRONTEND=noninteractive; apt-get -o Acquire::Check-Valid-Until=false update -q && \
    apt-get install -y -q --no-install-recommends python3-qgis qgis-providers python3-gdal python3-rasterio \
      python3-shapely python3-sklearn python3-scipy python3-matplotlib python3-pyqtgraph python3-pil \
      python3-venv python3-pip python3-pytest ca-certificates"
  touch "$root/.qgis-installed"
fi
# LANDSLIDEAI_PREPARE_ONLY=1: stop once the root is built (CI tells a machine that cannot build one from a failing test)
if [ "${LANDSLIDEAI_PREPARE_ONLY:-0}" = 1 ]; then
  echo "[roots] $suite root ready in $root"
  exit 0
fi
mkdir -p "$root/src" "$root/proc" "$root/wheels"
mountpoint -q "$root/src" || mount --bind "$here" "$root/src"
# LANDSLIDEAI_WHEELS: a folder of wheels for the root's Python (pip download --python-version 3.13 ... setuptools
# -r resources/requirements-user.txt pytest), installed with --no-index: for machines whose pip reaches
# PyPI only through a proxy the root does not trust (Python 3.13 verifies certificates strictly)
pip_src="-r resources/requirements-user.txt pytest"
if [ -n "${LANDSLIDEAI_WHEELS:-}" ]; then
  mountpoint -q "$root/wheels" || mount --bind "$LANDSLIDEAI_WHEELS" "$root/wheels"
  pip_src="--no-index --find-links /wheels $pip_src"
fi
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mkdir -p "$root/dev/shm"; mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
trap 'umount "$root/src" "$root/proc" "$root/dev" "$root/wheels" 2>/dev/null || true' EXIT
if [ "${LANDSLIDEAI_MINIMAL:-0}" = 1 ]; then
  tests="test/minimal test/plugin test/core/test_dependencies.py test/core/test_engine_isolation.py test/core/test_tabular_io.py test/algorithms/test_qgis_enums.py test/core/test_import_graph.py"
else
  tests=""
fi
chroot "$root" /bin/bash -c "set -e; cd /src; export QT_QPA_PLATFORM=offscreen HOME=/root PROJ_DATA=/usr/share/proj; unset PIP_FIND_LINKS PIP_CERT
  python3 -c 'from qgis.core import Qgis; import numpy, sys; from osgeo import gdal; print(\"[versions] QGIS\", Qgis.QGIS_VERSION, \"Python\", sys.version.split()[0], \"numpy\", numpy.__version__, \"GDAL\", gdal.__version__)'
  if [ '${LANDSLIDEAI_MINIMAL:-0}' != 1 ]; then
    [ -x /opt/venv/bin/python ] || python3 -m venv --system-site-packages /opt/venv
    /opt/venv/bin/python -m pip install -q $pip_src
    py=/opt/venv/bin/python
  else
    py=python3
  fi
  \$py -m pytest -q -p no:cacheprovider -o cache_dir=/tmp $tests $*"
