"""Diagnostics: what this QGIS has of what Landslide AI needs, copyable for a bug report.

Why a dialog and not a log line: a geologist who sees a greyed-out algorithm needs one place that
says which package is missing and the exact command, and something to paste into an issue. It
reads the same table as ``canExecute`` (``core.dependencies``) and never installs anything.
"""

from __future__ import annotations

import platform
import sys

from qgis.PyQt.QtGui import QFont, QGuiApplication
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from ..core.dependencies import all_status


def device_line() -> str:
    """The device training and prediction would use: CUDA GPU name and memory, or CPU threads."""
    try:
        import torch
    except ImportError:
        return "torch not installed: deep models unavailable"
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        return (
            f"CUDA {torch.version.cuda}: {p.name}, {p.total_memory / 2**30:.1f} GiB ({torch.cuda.device_count()} GPU)"
        )
    return f"CPU ({torch.get_num_threads()} threads); no CUDA GPU visible to torch"


def report(packages: str = "") -> str:
    """Plain-text diagnostics: versions, device, each dependency with its status and fix."""
    from qgis.core import Qgis

    try:
        from osgeo import gdal

        gdal_v = gdal.__version__
    except ImportError:
        gdal_v = "not importable"
    try:
        import torch

        torch_v = torch.__version__
    except ImportError:
        torch_v = "not installed"
    lines = [
        "Landslide AI diagnostics",
        f"QGIS     {Qgis.QGIS_VERSION}",
        f"Python   {sys.version.split()[0]} (prefix {sys.prefix})",  # sys.executable is not QGIS's own
        f"Platform {platform.platform()}",
        f"GDAL     {gdal_v}",
        f"torch    {torch_v}",
        f"Device   {device_line()}",
        f"Packages {packages or 'folder unknown'}",
        "",
        f"{'package':<14}{'installed':<16}{'minimum':<10}status",
    ]
    bad = 0
    for s in all_status():
        d = s.dependency
        state = "ok" if s.ok else "PROBLEM: " + s.problem
        bad += not s.ok
        lines.append(f"{d.distribution:<14}{s.shown:<16}{d.minimum:<10}{state}  [{d.purpose}]")
    lines += ["", "All dependencies satisfied." if not bad else f"{bad} dependency problem(s); see above."]
    return "\n".join(lines)


class DiagnosticsDialog(QDialog):
    """Read-only report with a Copy button."""

    def __init__(self, parent=None, packages: str = "", open_installer=None) -> None:
        """``packages``: the installer's folder line; ``open_installer``: opens the installer (None: no button)."""
        super().__init__(parent)
        self.setWindowTitle("Landslide AI — Diagnostics")
        self.setObjectName("LandslideAIDiagnostics")
        self.resize(760, 480)
        lay = QVBoxLayout(self)
        lay.addWidget(
            QLabel(
                "Versions and dependencies of this QGIS. Nothing is installed automatically: "
                "'Install Python packages…' installs what is marked PROBLEM, after showing what it will do."
            )
        )
        self.text = QPlainTextEdit(report(packages))
        self.text.setReadOnly(True)
        font = QFont("Monospace")
        font.setStyleHint(QFont.StyleHint.TypeWriter)
        self.text.setFont(font)
        lay.addWidget(self.text)
        row = QHBoxLayout()
        copy = QPushButton("Copy to clipboard")
        copy.clicked.connect(self.copy)
        row.addWidget(copy)
        if open_installer is not None:
            install = QPushButton("Install Python packages…")
            install.clicked.connect(open_installer)
            row.addWidget(install)
        row.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        row.addWidget(buttons)
        lay.addLayout(row)

    def copy(self) -> str:
        """Put the report on the clipboard; returns it."""
        QGuiApplication.clipboard().setText(self.text.toPlainText())
        return self.text.toPlainText()
