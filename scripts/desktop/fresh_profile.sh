# Sourced by run_desktop.sh and walkthrough_new_user.sh: a fresh QGIS profile with the zip installed.
#   fresh_profile ZIP PROFILES   -> PROFILES/profiles/default with the plugin unzipped and enabled
fresh_profile() {
  local zip="$1" profiles="$2"
  local plugins="$profiles/profiles/default/python/plugins"
  mkdir -p "$plugins" "$profiles/profiles/default/QGIS"
  (cd "$plugins" && unzip -q "$zip")
  cat > "$profiles/profiles/default/QGIS/QGIS3.ini" <<'INI'
[PythonPlugins]
landslide_ai=true
[qgis]
checkVersion=false
showTips=false
allowVersionCheck=false
INI
}
