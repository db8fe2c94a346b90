#!/usr/bin/env bash
# Build the plugin zip, install it into a fresh QGIS profile, start the real QGIS desktop (under
# Xvfb when there is no screen), run a small susceptibility and crack job and save screenshots.
#   bash scripts/run_desktop.sh [out/desktop] [load|demo|label]
# "load" only checks that the zip loads without log errors and quits (the test suite uses it);
# "label" tiles the UAV75 test scene, labels 16 chips with the map tool and runs crack_adapt.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(realpath -m "${1:-$here/out/desktop}")"
mode="${2:-demo}"
bash "$here/scripts/setup_env.sh"
source "$here/scripts/qgis_env.sh"
unset QT_QPA_PLATFORM  # the real desktop draws on (virtual) X

rm -rf "$out" && mkdir -p "$out"
"$VENV/bin/python" "$here/scripts/build_zip.py" --out "$out/landslide_ai.zip"
profiles="$out/profiles"
source "$here/scripts/desktop/fresh_profile.sh"
fresh_profile "$out/landslide_ai.zip" "$profiles"

export PYTHONPATH="$VENV/lib/python3.11/site-packages:$PYTHONPATH"
export PYQGIS_STARTUP="$here/scripts/desktop/startup_log.py"
export LANDSLIDEAI_LOG="$out/qgis_log.jsonl" LANDSLIDEAI_OUT="$out" LANDSLIDEAI_MODE="$mode" LANDSLIDEAI_REPO="$here"
export LANDSLIDEAI_EPOCHS="${LANDSLIDEAI_EPOCHS:-15}"
: > "$LANDSLIDEAI_LOG"
cmd=(/usr/bin/qgis.bin --noversioncheck --nologo --profiles-path "$profiles" --profile default
     --code "$here/scripts/desktop/session.py")
limit=$([ "$mode" = load ] && echo 240 || echo 1500)
qgis_rc=0
if [ -n "${DISPLAY:-}" ]; then
  timeout "$limit" "${cmd[@]}" > "$out/qgis_stdout.txt" 2>&1 || qgis_rc=$?
else
  timeout "$limit" xvfb-run -a -s "-screen 0 1600x1000x24" "${cmd[@]}" > "$out/qgis_stdout.txt" 2>&1 || qgis_rc=$?
fi
"$VENV/bin/python" - "$out" "$qgis_rc" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
qgis_rc = int(sys.argv[2])  # QGIS's own exit status: a crash on quit (139) or a hang (124) is a failure
s = json.loads((out / "session.json").read_text()) if (out / "session.json").exists() else {}
log = [json.loads(x) for x in (out / "qgis_log.jsonl").read_text().splitlines() if x.strip()]
# ours: Python errors/warnings (the plugin is the only Python added to this fresh profile) and any
# warning or critical naming the plugin; QGIS's own (missing SAGA/GRASS) are listed apart
bad = [m for m in log if m["tag"].startswith("Python") or "Traceback" in m["message"]
       or ("landslide" in m["message"].lower() and m["level"] in ("warning", "critical"))]
for m in log:
    if m not in bad and m["level"] == "critical":
        print("QGIS (not the plugin):", m["tag"], m["message"][:200])
print(f"plugin active: {s.get('plugin_active')}; algorithms: {len(s.get('algorithms', []))}; errors: {len(s.get('errors', []))}")
for e in s.get("errors", []):
    print(e["traceback"])
for m in bad:
    print("LOG", m["level"], m["tag"], m["message"][:300])
for shot in s.get("screenshots", []):
    print(f"{out / shot['file']}: {shot['shows']}")
print(f"QGIS exit status: {qgis_rc}" + ("" if qgis_rc == 0 else " (crashed or hung on quit)"))
ok = s.get("plugin_active") and s.get("finished") and not s.get("errors") and not bad and qgis_rc == 0
sys.exit(0 if ok else 1)
PY
