"""PYQGIS_STARTUP hook: record every QGIS log message from the very start (before plugins load).

QGIS runs this file right after its Python starts, so errors raised while the plugin loads from
the zip are captured too. Messages go, one JSON object per line, to $LANDSLIDEAI_LOG.
"""

import builtins
import json
import os

from qgis.core import Qgis, QgsApplication

_LEVELS = {Qgis.Info: "info", Qgis.Warning: "warning", Qgis.Critical: "critical", Qgis.Success: "success"}


def _record(message, tag, level):
    with open(os.environ["LANDSLIDEAI_LOG"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"tag": tag, "level": _LEVELS.get(level, str(level)), "message": message}) + "\n")


if not hasattr(builtins, "_landslide_ai_log_hook"):  # connect once even if QGIS runs the hook twice
    builtins._landslide_ai_log_hook = _record  # keep a reference for the life of the process
    QgsApplication.messageLog().messageReceived.connect(_record)
