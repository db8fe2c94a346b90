#!/usr/bin/env bash
# A new user's first hour, scripted: build the zip, install it into a fresh QGIS profile whose
# Python has none of our packages (QGIS's own /usr/bin/python3, no virtual environment), start the
# real QGIS desktop under Xvfb, check the toolbox lists every algorithm, run the torch-free chain,
# open the installer, install (from the package registry, or an offline wheel folder), restart
# QGIS and train a deep model. Screenshots and one JSON per phase go to OUT.
#   bash scripts/walkthrough_new_user.sh [OUT] ["PACKAGES"]
# PACKAGES: what the installer installs (default: torch only, to keep the download small).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(realpath -m "${1:-$here/out/walkthrough}")"
packages="${2:-torch>=2.6}"
rm -rf "$out" && mkdir -p "$out"
/usr/bin/python3 "$here/scripts/build_zip.py" --out "$out/landslide_ai.zip"
profiles="$out/profiles"
source "$here/scripts/desktop/fresh_profile.sh"
fresh_profile "$out/landslide_ai.zip" "$profiles"
unset PYTHONPATH VIRTUAL_ENV QT_QPA_PLATFORM
export LANDSLIDEAI_OUT="$out" LANDSLIDEAI_REPO="$here" LANDSLIDEAI_PACKAGES="$packages"
for phase in bare after; do
  export LANDSLIDEAI_PHASE="$phase"
  timeout 2400 xvfb-run -a -s "-screen 0 1600x1000x24" /usr/bin/qgis.bin --noversioncheck --nologo \
    --profiles-path "$profiles" --profile default --code "$here/scripts/desktop/new_user.py" \
    > "$out/qgis_$phase.txt" 2>&1 || echo "[walkthrough] QGIS exit status $? in phase $phase"
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for phase in ("bare", "after"):
    p = out / f"{phase}.json"
    s = json.loads(p.read_text()) if p.exists() else {"errors": ["no state written"]}
    print(f"[{phase}] algorithms {len(s.get('algorithms', []))}, torch importable {s.get('torch_importable')}, "
          f"errors {len(s.get('errors', []))}")
    for k in ("chain_table", "install_seconds", "installed_ok", "deep_seconds", "deep_table"):
        if k in s:
            print(f"  {k}: {s[k]}")
    for e in s.get("errors", []):
        print(e)
PY
