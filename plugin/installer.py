"""Opt-in installer of the optional Python packages into a private folder of the QGIS profile.

Why this design (and not ``pip install`` into QGIS's Python):

* QGIS's Python belongs to the system or to the QGIS bundle. Debian and Ubuntu refuse pip there
  (PEP 668, ``externally-managed-environment``), and ``--break-system-packages`` could replace
  the numpy that GDAL's and QGIS's own bindings were compiled against. So the packages go into
  ``<profile>/python/landslideai-packages/py3XX`` with ``pip install --target``, which needs no
  virtual environment (no ``venv`` module, no ``pyvenv.cfg``: a known failure of peer installers)
  and works the same on Debian/Ubuntu, Windows (OSGeo4W) and macOS.
* QGIS's binary packages are never replaced: pip gets a constraints file pinning numpy, GDAL,
  scipy, scikit-learn, matplotlib, Pillow, shapely, rasterio, pyproj and PyQt at the versions QGIS
  has, and the copies pip makes of them anyway are deleted (:func:`prune_host_packages`). The
  folder is then put *first* on ``sys.path`` (:func:`activate`): the pure-Python dependencies pip
  resolved together (torch needs sympy >= 1.13; Debian 12 ships 1.11) must be the ones imported,
  or torch fails at its first training step although it imported fine (seen in the walkthrough).
* Stage, verify, then switch: pip writes into a fresh staging folder; the packages are imported
  by a separate interpreter with exactly the path QGIS will use; only then does the staging
  folder replace the active one (two renames). A failed, cancelled or killed install leaves the
  previous packages untouched; staging folders of killed runs are removed by the next run.
* The CPU build of torch (about 200 MB on Linux instead of several GB of CUDA libraries) comes
  from PyTorch's CPU index in a first, download-only step of torch and torchvision alone; every
  other package resolves from PyPI only. Mixing the PyTorch index into the main resolve is what
  pulls in conflicting versions of unrelated packages.
* Offline and locked-down networks: a folder of wheel files (``--no-index --find-links``), a
  proxy, a CA bundle for TLS inspection (``--cert``), and trusted hosts.

No Qt here: the logic is tested with plain pytest; ``ui/installer_dialog.py`` is the window and
runs :func:`install` in a ``QgsTask``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
USER_REQUIREMENTS = RESOURCES / "requirements-user.txt"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
FOLDER_NAME = "landslideai-packages"

#: packages QGIS (or the distribution) provides and the installer must never replace: they link
#: QGIS's own GDAL, PROJ, Qt or numpy ABI. Their installed versions become pip constraints.
HOST_PACKAGES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "matplotlib",
    "pillow",
    "shapely",
    "rasterio",
    "gdal",
    "pyproj",
    "PyQt5",
    "PyQt6",
    "pyqtgraph",
)

Log = Callable[[str], None]


class InstallError(RuntimeError):
    """An install step failed; the message says what and how to fix it. Nothing was changed."""


@dataclass(frozen=True)
class InstallOptions:
    """What the user chose in the dialog (all optional)."""

    #: "cpu": torch's CPU build from PyTorch's index (Linux: about 200 MB); "default": what PyPI
    #: gives for this platform (Linux: the CUDA build, several GB; Windows: CPU; macOS: with MPS)
    torch_build: str = "cpu"
    #: a folder of .whl files: install from it alone, without any network (``--no-index``)
    wheel_folder: str = ""
    #: ``http://user:password@proxy.example.org:8080``
    proxy: str = ""
    #: a CA bundle (PEM) for networks that inspect TLS
    cert: str = ""
    #: host names pip may reach without TLS verification (last resort behind broken proxies)
    trusted_hosts: tuple[str, ...] = ()
    #: a pip index that replaces PyPI (a company mirror)
    index_url: str = ""
    #: which packages; empty = every line of resources/requirements-user.txt
    requirements: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    """Where the packages live for one QGIS profile and one Python minor version."""

    root: Path  # <profile>/python/landslideai-packages

    @property
    def active(self) -> Path:
        """The folder :func:`activate` appends to ``sys.path`` (one per Python version: wheels are per ABI)."""
        return self.root / f"py{sys.version_info.major}{sys.version_info.minor}"

    @staticmethod
    def for_profile(profile_dir: str | Path) -> Layout:
        """The layout of a QGIS profile folder (``QgsApplication.qgisSettingsDirPath()``)."""
        return Layout(Path(profile_dir) / "python" / FOLDER_NAME)


@dataclass
class InstallResult:
    """What an install did: versions imported by the verifying interpreter, the log, the folder."""

    folder: Path
    versions: dict[str, str] = field(default_factory=dict)


def activate(layout: Layout) -> bool:
    """Put the installed packages first on ``sys.path``; True when there are any (see the module notes)."""
    folder = str(layout.active)
    if not layout.active.is_dir():
        return False
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return True


def folder_state(layout: Layout) -> str:
    """One line for Diagnostics: the private packages folder and whether this QGIS uses it."""
    folder = layout.active
    if not folder.is_dir():
        return f"{folder} (none installed)"
    return f"{folder} ({'on sys.path' if str(folder) in sys.path else 'present, not on sys.path: restart QGIS'})"


def user_requirements() -> tuple[str, ...]:
    """The requirement lines of resources/requirements-user.txt (comments dropped)."""
    lines = USER_REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return tuple(ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip())


def find_python() -> Path:
    """The Python interpreter QGIS runs (``sys.executable`` is the QGIS program inside QGIS).

    Tried in order: ``sys.executable`` when it is a Python; the ``python.exe`` of OSGeo4W's
    ``apps/Python3XX`` (``sys.exec_prefix``); the macOS bundle's ``bin/python3``; then
    ``python3.X`` and ``python3`` on PATH. Each candidate must report the same major.minor version
    as the running Python, or its wheels would not load here.
    """
    want = f"{sys.version_info.major}.{sys.version_info.minor}"
    names = [f"python{want}", "python3", "python"]
    candidates: list[Path] = []
    exe = Path(sys.executable) if sys.executable else None
    if exe and exe.name.lower().startswith("python"):
        candidates.append(exe)
    stdlib_root = Path(os.__file__).resolve().parents[2]  # /usr/lib/python3.11/os.py -> /usr
    for base in dict.fromkeys([Path(sys.exec_prefix), Path(sys.prefix), stdlib_root]):
        candidates += [base / "python.exe", base / "bin" / f"python{want}", base / "bin" / "python3"]
    candidates += [Path(p) for n in names if (p := shutil.which(n))]
    for c in candidates:
        if c.is_file() and _same_python(c):
            return c
    raise InstallError(
        f"Could not find the Python {want} interpreter that QGIS uses (looked at {', '.join(map(str, candidates))}). "
        "Install the packages by hand into QGIS's Python (see the user guide), or report this with Diagnostics."
    )


def _same_python(python: Path) -> bool:
    """Whether ``python`` is the interpreter running here: same version *and* same standard library.

    Why the library too: a pyenv, conda or Homebrew ``python3.11`` on PATH has the right version but
    its own site-packages (here, a numpy 2 that QGIS's GDAL bindings cannot load).
    """
    try:
        out = subprocess.run(
            [
                str(python),
                "-c",
                "import os, sys; print('%d.%d' % sys.version_info[:2]); print(os.path.realpath(os.__file__))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    lines = out.stdout.strip().splitlines()
    want = [f"{sys.version_info.major}.{sys.version_info.minor}", os.path.realpath(os.__file__)]
    return lines == want


def host_constraints() -> list[str]:
    """``name==version`` of every host package this Python has (QGIS's numpy stays QGIS's numpy)."""
    out = []
    for name in HOST_PACKAGES:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    if "numpy==" not in " ".join(out):
        import numpy

        out.append(f"numpy=={numpy.__version__}")
    return out


def connection_args(opts: InstallOptions) -> list[str]:
    """pip options for the network the user is on: proxy, CA bundle, trusted hosts."""
    args: list[str] = []
    if opts.proxy:
        args += ["--proxy", opts.proxy]
    if opts.cert:
        args += ["--cert", opts.cert]
    for host in opts.trusted_hosts:
        args += ["--trusted-host", host]
    return args


def source_args(opts: InstallOptions) -> list[str]:
    """Where packages come from: a wheel folder alone (offline), a mirror, or PyPI (pip's default)."""
    if opts.wheel_folder:
        return ["--no-index", "--find-links", opts.wheel_folder]
    if opts.index_url:
        return ["--index-url", opts.index_url]
    return []


def wants_torch_cpu(opts: InstallOptions, reqs: tuple[str, ...]) -> bool:
    """Whether the first, torch-only download from PyTorch's CPU index applies."""
    return (
        opts.torch_build == "cpu"
        and not opts.wheel_folder
        and sys.platform.startswith("linux")  # Windows and macOS wheels on PyPI are CPU/MPS builds already
        and any(_req_name(r) in ("torch", "torchvision") for r in reqs)
    )


def _req_name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].strip().lower()


def plan(python: Path, layout: Layout, opts: InstallOptions) -> list[list[str]]:
    """The commands :func:`install` will run, for the dialog to show before anything is done.

    ``{staging}``, ``{wheels}`` and ``{constraints}`` stand for folders and files made at run time.
    """
    reqs = opts.requirements or user_requirements()
    conn, source = connection_args(opts), source_args(opts)
    cmds = []
    if wants_torch_cpu(opts, reqs):
        torch_reqs = [r for r in reqs if _req_name(r) in ("torch", "torchvision")]
        cmds.append(
            [str(python), "-m", "pip", "download", "--no-deps", "--dest", "{wheels}", "--index-url", TORCH_CPU_INDEX]
            + conn
            + torch_reqs
        )
        source = [*source, "--find-links", "{wheels}"]
    cmds.append(
        [str(python), "-m", "pip", "install", "--target", "{staging}", "--constraint", "{constraints}"]
        + ["--no-warn-script-location", "--disable-pip-version-check", "--progress-bar", "off"]
        + conn
        + source
        + list(reqs)
    )
    return cmds


def describe(python: Path, layout: Layout, opts: InstallOptions) -> str:
    """What the install will do, in words and commands (shown before the user confirms)."""
    reqs = opts.requirements or user_requirements()
    lines = [
        f"Python: {python} ({sys.version.split()[0]})",
        f"Packages: {', '.join(reqs)}",
        f"Into: {layout.active} (a private folder of this QGIS profile; nothing in QGIS's Python changes)",
        "Kept as they are (pinned): " + ", ".join(host_constraints()),
        "Steps: download and install into a staging folder, import every package with a separate Python, then "
        "switch folders. On any failure the staging folder is removed and the current packages stay.",
        "",
        "Commands:",
    ]
    lines += ["  " + " ".join(c) for c in plan(python, layout, opts)]
    return "\n".join(lines)


def clean_stale(layout: Layout, log: Log = print) -> list[Path]:
    """Remove staging and old folders left by killed or crashed runs (their process is gone)."""
    removed = []
    if not layout.root.is_dir():
        return removed
    for p in layout.root.iterdir():
        m = re.match(r"^\.(staging|old|wheels)-(\d+)-\d+(\.constraints\.txt)?$", p.name)
        if m and not _alive(int(m.group(2))):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
            log(f"Removed {p.name}, left by an interrupted install.")
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but not ours, or Windows semantics: keep it
        return True
    return True


def _run(cmd: list[str], log: Log, canceled: Callable[[], bool], env: dict[str, str] | None = None) -> None:
    """Run one command, stream its output to ``log``, kill it on cancel; raise :class:`InstallError` on failure."""
    log("$ " + " ".join(cmd))
    tail: list[str] = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=env, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                log(line)
                tail = (tail + [line])[-40:]
            if canceled():
                proc.kill()
                proc.wait()
                raise InstallError("Canceled: the packages already installed (if any) are unchanged.")
        code = proc.wait()
    if code:
        raise InstallError(explain_pip_failure("\n".join(tail), code))


def explain_pip_failure(output: str, code: int) -> str:
    """One sentence on what went wrong with pip and what to do, from the end of its output."""
    low = output.lower()
    if "certificate verify failed" in low or "sslerror" in low or "ssl:" in low:
        why = (
            "TLS certificates could not be verified (a company proxy that inspects HTTPS?). Give your organisation's "
            "CA bundle (PEM) as 'CA certificate', or a proxy, or install from a wheel folder."
        )
    elif "proxyerror" in low or "407" in low:
        why = "The proxy refused the connection. Check the proxy address and its user and password."
    elif "resolutionimpossible" in low or "conflicting dependencies" in low:
        why = (
            "The packages need versions of packages QGIS already has that differ from QGIS's (QGIS's own are never "
            "replaced). Install fewer packages, or a QGIS with a newer Python."
        )
    elif (
        "could not find a version" in low
        or "no matching distribution" in low
        or "temporary failure in name resolution" in low
        or "connection" in low
        and "error" in low
    ):
        why = (
            "A package could not be downloaded (no network, a blocked host, or no wheel for this Python). With no "
            "network, download the wheels elsewhere (pip download -r requirements-user.txt) and choose that "
            "wheel folder in the installer."
        )
    elif "no space left" in low:
        why = "The disk is full. Free space in the QGIS profile folder and try again."
    else:
        why = "pip failed; the log above has its full output."
    return f"Installing failed (pip exit code {code}): {why} Nothing was changed."


#: a few lines that exercise what importing alone does not (torch loads sympy at its first optimiser step)
SMOKE = {
    "torch": "import torch; m = torch.nn.Linear(2, 1); o = torch.optim.Adam(m.parameters()); "
    "m(torch.ones(3, 2)).sum().backward(); o.step()",
}


def verify(python: Path, folder: Path, modules: list[str], log: Log = print) -> dict[str, str]:
    """Import ``modules`` in a separate interpreter whose path is QGIS's with ``folder`` first.

    Why a separate interpreter: a package that crashes on import (a wheel for the wrong CPU, a numpy
    ABI mismatch) must not crash QGIS, and the check must see exactly what QGIS will see next start.
    """
    code = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(folder)!r})\n"
        "out = {}\n"
        f"for m in {modules!r}:\n"
        "    mod = importlib.import_module(m)\n"
        "    out[m] = str(getattr(mod, '__version__', 'ok'))\n"
        + "".join(SMOKE[m] + "\n" for m in modules if m in SMOKE)
        + "import numpy\n"
        "out['numpy'] = numpy.__version__\n"
        "print('VERIFY ' + json.dumps(out))\n"
    )
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=900, env=env)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("VERIFY ")), "")
    if proc.returncode or not line:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InstallError(
            f"The installed packages do not import with QGIS's Python ({err}). Nothing was changed; the log has the "
            "full error. Try 'Repair', or report it with Diagnostics."
        )
    versions: dict[str, str] = json.loads(line[len("VERIFY ") :])
    import numpy

    if versions.get("numpy") != numpy.__version__:
        raise InstallError(
            f"After the install Python would import numpy {versions.get('numpy')} instead of QGIS's "
            f"{numpy.__version__}. Nothing was changed."
        )
    log("Imported: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return versions


def prune_host_packages(folder: Path, log: Log = print) -> list[str]:
    """Delete the copies pip put in ``folder`` of packages QGIS already has (same pinned versions).

    Why: ``pip install --target`` ignores what is installed and copies every dependency, numpy
    included; a copy first on the path would replace the numpy QGIS's GDAL bindings were built for.
    """
    host = {c.split("==")[0].lower().replace("-", "_") for c in host_constraints()}
    removed = []
    for info in sorted(folder.glob("*.dist-info")):
        name = re.sub(r"-[^-]+\.dist-info$", "", info.name).lower().replace("-", "_")
        if name not in host:
            continue
        record = info / "RECORD"
        tops = set()
        if record.is_file():
            for row in record.read_text(encoding="utf-8", errors="replace").splitlines():
                top = row.split(",")[0].split("/")[0]
                if top and not top.startswith(".."):
                    tops.add(top)
        for top in tops | {info.name}:
            p = folder / top
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists():
                p.unlink()
        removed.append(name)
    if removed:
        log("Left to QGIS (removed pip's copies): " + ", ".join(removed))
    return removed


def import_names(reqs: tuple[str, ...]) -> list[str]:
    """Module names to verify for requirement lines (distribution names differ from import names)."""
    special = {"dask": "dask.distributed", "scikit-learn": "sklearn", "pillow": "PIL"}
    return [special.get(_req_name(r), _req_name(r).replace("-", "_")) for r in reqs]


def install(
    layout: Layout,
    opts: InstallOptions,
    python: Path | None = None,
    log: Log = print,
    canceled: Callable[[], bool] = lambda: False,
) -> InstallResult:
    """Install, verify, then switch; the active folder changes only when every package imports.

    Raises :class:`InstallError` (with what to do) on any failure, leaving the active folder as it was.
    """
    python = python or find_python()
    reqs = opts.requirements or user_requirements()
    layout.root.mkdir(parents=True, exist_ok=True)
    clean_stale(layout, log)
    stamp = f"{os.getpid()}-{int(time.time() * 1000)}"
    staging = layout.root / f".staging-{stamp}"
    wheels = layout.root / f".wheels-{stamp}"
    constraints = staging.parent / f".staging-{stamp}.constraints.txt"
    try:
        staging.mkdir()
        constraints.write_text("\n".join(host_constraints()) + "\n", encoding="utf-8")
        env = dict(os.environ, PIP_NO_INPUT="1")
        env.pop("PYTHONPATH", None)
        env.pop("PIP_REQUIRE_VIRTUALENV", None)
        for cmd in plan(python, layout, opts):
            cmd = [a.format(staging=staging, wheels=wheels, constraints=constraints) for a in cmd]
            if "download" in cmd:
                wheels.mkdir(exist_ok=True)
            _run(cmd, log, canceled, env)
            if "download" in cmd:
                _pin_downloaded(wheels, constraints)
        prune_host_packages(staging, log)
        versions = verify(python, staging, import_names(reqs), log)
        if canceled():
            raise InstallError("Canceled: the packages already installed (if any) are unchanged.")
        _switch(layout, staging, stamp)
        log(f"Installed into {layout.active}. Restart QGIS so that every algorithm sees the new packages.")
        return InstallResult(layout.active, versions)
    finally:
        for p in (staging, wheels):
            if p.exists():
                shutil.rmtree(p, ignore_errors=True)
        constraints.unlink(missing_ok=True)


def _pin_downloaded(wheels: Path, constraints: Path) -> None:
    """Pin torch/torchvision to the CPU wheels just downloaded, so the main resolve takes those files."""
    pins = []
    for whl in wheels.glob("*.whl"):
        name, version = whl.name.split("-")[:2]
        pins.append(f"{name.lower()}=={version}")
    with constraints.open("a", encoding="utf-8") as f:
        f.write("\n".join(pins) + "\n")


def _switch(layout: Layout, staging: Path, stamp: str) -> None:
    """Make ``staging`` the active folder with two renames (the old one removed afterwards)."""
    old = layout.root / f".old-{stamp}"
    if layout.active.exists():
        layout.active.rename(old)
    try:
        staging.rename(layout.active)
    except OSError:
        if old.exists():
            old.rename(layout.active)
        raise
    shutil.rmtree(old, ignore_errors=True)


def uninstall(layout: Layout, log: Log = print) -> bool:
    """Remove the installed packages of this Python version (QGIS's own are never touched)."""
    clean_stale(layout, log)
    if not layout.active.exists():
        log("Nothing to remove.")
        return False
    shutil.rmtree(layout.active)
    if str(layout.active) in sys.path:
        sys.path.remove(str(layout.active))
    log(f"Removed {layout.active}. Restart QGIS.")
    return True
