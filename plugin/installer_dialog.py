"""The "Install Python packages" window: what is missing, what will be done, then a background install.

Why a dialog in front of the installer: nothing is installed until the user has read what will
happen (the packages, the folder, the commands) and pressed Install. The work runs as a
``QgsTask`` (progress in QGIS's task bar, cancel from there or here), and its log stays on screen.
The logic is ``installer.py``; this file only shows it. It lives in ``plugin/`` (desktop glue),
not ``ui/``: widgets there never reach into the plugin layer.
"""

from __future__ import annotations

from qgis.core import QgsApplication, QgsTask
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtGui import QFont
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from ..core.dependencies import DEPENDENCIES, status
from . import installer as ins

TORCH_BUILDS = [
    ("cpu", "CPU build of torch (Linux: no CUDA libraries, several GB smaller; runs everywhere)"),
    ("default", "PyPI's build (Linux: with NVIDIA CUDA, several GB; needed to train on a GPU)"),
]


class InstallTask(QgsTask):
    """Runs :func:`installer.install` or :func:`installer.uninstall` off the main thread."""

    line = pyqtSignal(str)
    done = pyqtSignal(bool, str)

    def __init__(self, layout: ins.Layout, opts: ins.InstallOptions | None, python=None) -> None:
        super().__init__("Landslide AI: " + ("install Python packages" if opts else "remove Python packages"))
        self.layout, self.opts, self.python = layout, opts, python
        self.error = ""

    def run(self) -> bool:  # worker thread: no widgets here, only signals
        try:
            if self.opts is None:
                ins.uninstall(self.layout, self.line.emit)
            else:
                ins.install(self.layout, self.opts, self.python, self.line.emit, self.isCanceled)
        except ins.InstallError as exc:
            self.error = str(exc)
            return False
        return True

    def finished(self, ok: bool) -> None:  # main thread
        self.done.emit(ok, self.error)


class InstallerDialog(QDialog):
    """Status of the optional packages, the install options and plan, Install / Remove, and the log."""

    def __init__(self, parent=None, layout: ins.Layout | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Landslide AI — Install Python packages")
        self.setObjectName("LandslideAIInstaller")
        self.resize(860, 640)
        self.layout_ = layout or ins.Layout.for_profile(QgsApplication.qgisSettingsDirPath())
        self.task: InstallTask | None = None
        box = QVBoxLayout(self)
        intro = QLabel(
            "The deep models, XGBoost, SHAP, the Bayesian search, Grad-CAM and TWI need Python packages that "
            "QGIS does not ship. They are installed into a private folder of this QGIS profile; QGIS's own "
            "Python and its numpy/GDAL are never changed. Nothing happens until you press Install."
        )
        intro.setWordWrap(True)
        box.addWidget(intro)
        self.status_label = QLabel(self._status_text())
        self.status_label.setWordWrap(True)
        box.addWidget(self.status_label)
        form = QFormLayout()
        self.build = QComboBox()
        for key, text in TORCH_BUILDS:
            self.build.addItem(text, key)
        form.addRow("torch", self.build)
        self.wheels = self._path_row(form, "Wheel folder (offline)", folder=True)
        self.proxy = QLineEdit()
        self.proxy.setPlaceholderText("http://user:password@proxy.example.org:8080 (empty: none)")
        form.addRow("Proxy", self.proxy)
        self.cert = self._path_row(form, "CA certificate (PEM)", folder=False)
        self.index = QLineEdit()
        self.index.setPlaceholderText("a company mirror of PyPI (empty: PyPI)")
        form.addRow("Package index", self.index)
        self.trusted = QLineEdit()
        self.trusted.setPlaceholderText("hosts whose certificate pip need not check, comma-separated (empty: none)")
        form.addRow("Trusted hosts", self.trusted)
        box.addLayout(form)
        box.addWidget(QLabel("What will be done:"))
        self.plan = QPlainTextEdit()
        self.plan.setReadOnly(True)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        font = QFont("Monospace")
        font.setStyleHint(QFont.StyleHint.TypeWriter)
        for w in (self.plan, self.log):
            w.setFont(font)
        box.addWidget(self.plan, 2)
        box.addWidget(QLabel("Log:"))
        box.addWidget(self.log, 3)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        box.addWidget(self.progress)
        row = QHBoxLayout()
        self.install_button = QPushButton("Install")
        self.install_button.setObjectName("LandslideAIInstall")
        self.remove_button = QPushButton("Remove installed packages")
        self.cancel_button = QPushButton("Cancel install")
        self.cancel_button.setEnabled(False)
        close = QPushButton("Close")
        for b in (self.install_button, self.remove_button, self.cancel_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(close)
        box.addLayout(row)
        self.install_button.clicked.connect(self.start_install)
        self.remove_button.clicked.connect(self.start_remove)
        self.cancel_button.clicked.connect(self.cancel)
        close.clicked.connect(self.reject)
        for w in (self.proxy, self.index, self.wheels, self.cert, self.trusted):
            w.textChanged.connect(self.refresh_plan)
        self.build.currentIndexChanged.connect(self.refresh_plan)
        self.refresh_plan()

    def _path_row(self, form: QFormLayout, label: str, folder: bool) -> QLineEdit:
        edit = QLineEdit()
        button = QPushButton("…")

        def browse() -> None:
            path = (
                QFileDialog.getExistingDirectory(self, label)
                if folder
                else QFileDialog.getOpenFileName(self, label, "", "PEM (*.pem *.crt);;All files (*)")[0]
            )
            if path:
                edit.setText(path)

        button.clicked.connect(browse)
        row = QHBoxLayout()
        row.addWidget(edit)
        row.addWidget(button)
        form.addRow(label, row)
        return edit

    @staticmethod
    def _status_text() -> str:
        rows = []
        for d in DEPENDENCIES.values():
            if d.installer:
                s = status(d.module)
                rows.append(f"{d.distribution}: {s.shown if s.ok else 'missing'}")
        return "Now: " + "; ".join(rows)

    def options(self) -> ins.InstallOptions:
        """The options as set in the window."""
        return ins.InstallOptions(
            torch_build=self.build.currentData(),
            wheel_folder=self.wheels.text().strip(),
            proxy=self.proxy.text().strip(),
            cert=self.cert.text().strip(),
            index_url=self.index.text().strip(),
            trusted_hosts=tuple(h.strip() for h in self.trusted.text().split(",") if h.strip()),
        )

    def refresh_plan(self) -> None:
        """Show exactly what Install would run with the current options."""
        try:
            self.python = ins.find_python()
            self.plan.setPlainText(ins.describe(self.python, self.layout_, self.options()))
            self.install_button.setEnabled(self.task is None)
        except ins.InstallError as exc:
            self.python = None
            self.plan.setPlainText(str(exc))
            self.install_button.setEnabled(False)

    def _start(self, opts: ins.InstallOptions | None) -> None:
        self.task = InstallTask(self.layout_, opts, self.python)
        self.task.line.connect(self.log.appendPlainText)
        self.task.done.connect(self._finished)
        self.progress.setRange(0, 0)  # busy: pip gives no overall fraction
        for b in (self.install_button, self.remove_button):
            b.setEnabled(False)
        self.cancel_button.setEnabled(opts is not None)
        QgsApplication.taskManager().addTask(self.task)

    def start_install(self) -> None:
        """Install (or repair: the same staged, verified install) in the background."""
        self.log.clear()
        self._start(self.options())

    def start_remove(self) -> None:
        """Remove the private packages folder of this Python version."""
        self._start(None)

    def cancel(self) -> None:
        """Ask the running install to stop (pip is killed; nothing changes)."""
        if self.task is not None:
            self.task.cancel()

    def _finished(self, ok: bool, error: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if ok else 0)
        self.log.appendPlainText("Done." if ok else error)
        self.task = None
        self.remove_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        status.cache_clear()
        if ok:
            ins.activate(self.layout_)
        self.status_label.setText(self._status_text())
        self.refresh_plan()
