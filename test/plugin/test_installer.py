"""The opt-in package installer: stage, verify, switch; never a half-installed folder.

Runs pip for real, offline, against a folder of wheels written here (tests never download).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_wheel
from landslide_ai.plugin import installer as ins


@pytest.fixture()
def wheels(tmp_path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    make_wheel(folder, "lsai_probe_b", "2.0")
    make_wheel(folder, "lsai_probe_a", "1.0", "import lsai_probe_b\n", requires=("lsai_probe_b>=2",))
    make_wheel(folder, "lsai_probe_bad", "1.0", "raise ImportError('built for another CPU')\n")
    make_wheel(folder, "numpy", "0.0.1")  # a numpy QGIS does not have: must never be chosen
    make_wheel(folder, "lsai_probe_old_numpy", "1.0", requires=("numpy==0.0.1",))
    return folder


def _opts(wheels: Path, *reqs: str) -> ins.InstallOptions:
    return ins.InstallOptions(wheel_folder=str(wheels), requirements=reqs)


def _python() -> Path:
    return Path(sys.executable)


def test_installs_offline_into_the_profile_folder_and_qgis_sees_it_after_activation(tmp_path, wheels):
    layout = ins.Layout.for_profile(tmp_path / "profile")
    lines: list[str] = []
    res = ins.install(layout, _opts(wheels, "lsai_probe_a"), _python(), lines.append)
    assert res.folder == layout.active and layout.active.name == f"py{sys.version_info[0]}{sys.version_info[1]}"
    assert res.versions["lsai_probe_a"] == "1.0"
    assert (layout.active / "lsai_probe_b" / "__init__.py").exists()  # the dependency came along
    assert not list(layout.root.glob(".staging-*")) and not list(layout.root.glob(".wheels-*"))
    assert any(line.startswith("$ ") and "--no-index" in line for line in lines)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from landslide_ai.plugin import installer as i; "
        "i.activate(i.Layout.for_profile(sys.argv[2])); import lsai_probe_a, numpy; "
        "print(lsai_probe_a.__version__, numpy.__file__)"
    )
    link = next(p for p in sys.path if (Path(p) / "landslide_ai").is_dir())
    out = subprocess.run([sys.executable, "-c", code, link, str(tmp_path / "profile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    version, numpy_file = out.stdout.split()
    assert version == "1.0" and str(layout.root) not in numpy_file  # QGIS's numpy, never a copy


def test_a_package_that_does_not_import_leaves_the_previous_install_untouched(tmp_path, wheels):
    layout = ins.Layout.for_profile(tmp_path / "profile")
    ins.install(layout, _opts(wheels, "lsai_probe_a"), _python(), lambda _: None)
    with pytest.raises(ins.InstallError, match="do not import.*Nothing was changed"):
        ins.install(layout, _opts(wheels, "lsai_probe_bad"), _python(), lambda _: None)
    assert (layout.active / "lsai_probe_a").is_dir() and not (layout.active / "lsai_probe_bad").exists()
    assert sorted(p.name for p in layout.root.iterdir()) == [layout.active.name]


def test_a_package_that_needs_another_numpy_than_qgis_is_refused_with_a_clear_message(tmp_path, wheels):
    layout = ins.Layout.for_profile(tmp_path / "profile")
    with pytest.raises(ins.InstallError, match="differ from QGIS's.*Nothing was changed"):
        ins.install(layout, _opts(wheels, "lsai_probe_old_numpy"), _python(), lambda _: None)
    assert not layout.active.exists() and not list(layout.root.glob(".staging-*"))


def test_cancel_stops_pip_and_changes_nothing(tmp_path, wheels):
    layout = ins.Layout.for_profile(tmp_path / "profile")
    with pytest.raises(ins.InstallError, match="Canceled"):
        ins.install(layout, _opts(wheels, "lsai_probe_a"), _python(), lambda _: None, canceled=lambda: True)
    assert not layout.active.exists() and not list(layout.root.glob(".*"))


def test_leftovers_of_a_killed_install_are_removed_and_uninstall_removes_only_ours(tmp_path, wheels):
    layout = ins.Layout.for_profile(tmp_path / "profile")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = layout.root / f".staging-{dead.pid}-1"
    (stale / "torch").mkdir(parents=True)
    stale_constraints = layout.root / f".staging-{dead.pid}-1.constraints.txt"
    stale_constraints.write_text("numpy==1\n")
    ins.install(layout, _opts(wheels, "lsai_probe_b"), _python(), lambda _: None)
    assert not stale.exists() and not stale_constraints.exists()
    assert ins.uninstall(layout, lambda _: None) and not layout.active.exists()
    assert not ins.uninstall(layout, lambda _: None)


def test_the_plan_takes_cpu_torch_from_pytorch_alone_and_everything_else_from_pypi(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    layout = ins.Layout.for_profile(tmp_path)
    opts = ins.InstallOptions(requirements=("torch>=2.6", "torchvision>=0.21", "xgboost>=2.0"), proxy="http://p:8080")
    download, install = ins.plan(Path("/usr/bin/python3"), layout, opts)
    assert download[3] == "download" and ins.TORCH_CPU_INDEX in download and "xgboost>=2.0" not in download
    assert "--proxy" in download and "--proxy" in install
    assert ins.TORCH_CPU_INDEX not in install and "--find-links" in install and "xgboost>=2.0" in install
    gpu = ins.plan(
        Path("/usr/bin/python3"), layout, ins.InstallOptions(torch_build="default", requirements=opts.requirements)
    )
    assert len(gpu) == 1
    offline = ins.plan(Path("/usr/bin/python3"), layout, ins.InstallOptions(wheel_folder="/w", requirements=("torch",)))
    assert len(offline) == 1 and "--no-index" in offline[0]
    text = ins.describe(Path("/usr/bin/python3"), layout, opts)
    assert "numpy==" in text and "nothing in QGIS's Python changes" in text


def test_pip_failures_are_explained():
    assert "CA bundle" in ins.explain_pip_failure("SSLError(SSLCertVerificationError('certificate verify failed'))", 1)
    assert "proxy" in ins.explain_pip_failure("ProxyError('Cannot connect to proxy.', 407)", 1)
    assert "wheel folder" in ins.explain_pip_failure("ERROR: No matching distribution found for torch", 1)
    assert "full" in ins.explain_pip_failure("OSError: [Errno 28] No space left on device", 1)


def test_the_user_requirements_are_the_installer_rows_of_the_dependency_table():
    from landslide_ai.core.dependencies import DEPENDENCIES

    names = {ins._req_name(r) for r in ins.user_requirements()}
    table = {d.distribution.lower() for d in DEPENDENCIES.values() if d.installer}
    assert names == table


def test_another_python_of_the_same_version_is_not_taken_for_qgis_own(tmp_path):
    """A pyenv/conda python3.X on PATH has its own site-packages: the installer must not run pip with it."""
    assert ins._same_python(Path(sys.executable))
    fake = tmp_path / "python3"
    fake.write_text(f"#!/bin/sh\necho {sys.version_info[0]}.{sys.version_info[1]}\necho /elsewhere/lib/os.py\n")
    fake.chmod(0o755)
    assert not ins._same_python(fake)
