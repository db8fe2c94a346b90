"""The installer window: shows the plan before doing anything, installs in a QgsTask, and says what happened."""

from __future__ import annotations

import time

from conftest import make_wheel


def _wait(dialog, app, timeout_s: float = 120.0) -> None:
    t0 = time.time()
    while dialog.task is not None and time.time() - t0 < timeout_s:
        app.processEvents()
        time.sleep(0.05)
    assert dialog.task is None, "the install task did not finish"


def test_the_window_shows_the_plan_then_installs_and_removes_in_the_background(qgis_app, tmp_path):
    from landslide_ai.plugin.installer import Layout
    from landslide_ai.plugin.installer_dialog import InstallerDialog

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "lsai_probe_b", "2.0")
    layout = Layout.for_profile(tmp_path / "profile")
    dlg = InstallerDialog(None, layout)
    assert "pip install --target" in dlg.plan.toPlainText() and "numpy==" in dlg.plan.toPlainText()
    assert not layout.root.exists()  # nothing done by opening the window
    dlg.trusted.setText("mirror.example.org, pypi.internal")
    assert dlg.options().trusted_hosts == ("mirror.example.org", "pypi.internal")
    assert "--trusted-host mirror.example.org" in dlg.plan.toPlainText()
    dlg.trusted.setText("")
    dlg.wheels.setText(str(wheels))
    assert "--no-index" in dlg.plan.toPlainText()
    dlg.options = lambda: __import__("landslide_ai.plugin.installer", fromlist=["x"]).InstallOptions(
        wheel_folder=str(wheels), requirements=("lsai_probe_b",)
    )
    dlg.start_install()
    _wait(dlg, qgis_app)
    assert "Done." in dlg.log.toPlainText(), dlg.log.toPlainText()
    assert (layout.active / "lsai_probe_b").is_dir()
    dlg.start_remove()
    _wait(dlg, qgis_app)
    assert not layout.active.exists() and "Removed" in dlg.log.toPlainText()
