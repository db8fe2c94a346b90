"""All-or-nothing outputs: stage every file of a run, publish them together only on success.

Why: a run writes several files (rasters, sidecars, model weights, cards, tables, reports). A
cancel, a bad parameter found late, a full disk or a crash half-way must leave the user's folders
exactly as they were: no partial output that QGIS would load as if fine, no earlier result
replaced by half of a new one, and never an *input* of the run overwritten by one of its outputs.

How:

* Every declared output (a file chosen by the user, or an output folder) gets a private, hidden
  staging folder *on the same file system* as its destination. The engine writes there (its
  sidecars land beside the staged file, so they travel with it).
* :meth:`OutputTransaction.check` runs before any work: it refuses an output that is one of the
  run's inputs (or one of their sidecars), two outputs that name the same file, and files that the
  algorithm says it will write into an output folder where they would replace an input or a file
  that Landslide AI did not write (folders keep a small manifest of what we wrote).
* :meth:`OutputTransaction.commit` checks the staged files again (the engine may write more than
  was declared), moves any file it replaces aside, moves the staged files into place and, should
  one move fail, puts everything back. :meth:`OutputTransaction.rollback` removes the staging
  folders and any folder the run created. Nothing here imports QGIS.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidInputError, OutputError

#: name of the manifest that an output folder keeps of the files Landslide AI wrote into it.
MANIFEST = ".landslideai-manifest.json"
STAGING_PREFIX = ".landslideai-staging-"

#: sidecars that belong to a file ``<stem>.<ext>``: QGIS/GDAL/ESRI companions, by stem or full name.
_STEM_SIDECARS = (".qml", ".sld", ".prj", ".dbf", ".shx", ".shp", ".cpg", ".qix", ".sbn", ".sbx", ".tfw",
                  ".tifw", ".wld", ".jgw", ".pgw", ".qmd")  # fmt: skip
_NAME_SIDECARS = (".json", ".aux.xml", ".ovr", ".msk", ".xml")


def norm_path(path: str | os.PathLike[str]) -> str:
    """An absolute, symlink-resolved, case-preserving path used to compare files."""
    return os.path.normcase(os.path.realpath(os.path.abspath(os.fspath(path))))


def family(path: str | os.PathLike[str]) -> set[str]:
    """A file and the sidecars that belong to it (normalised), whether or not they exist.

    ``stack.tif`` owns ``stack.tif.json`` (its climate layout), ``stack.qml`` (its style),
    ``stack.tif.aux.xml`` (statistics) and, for a shapefile, its ``.dbf``/``.shx``/``.prj``.
    Writing any of them destroys part of the file, so an output may not be one of them.
    """
    p = Path(norm_path(path))
    out = {str(p)}
    out.update(str(p) + s for s in _NAME_SIDECARS)
    out.update(str(p.with_suffix(s)) for s in _STEM_SIDECARS)
    return out


def input_family(path: str | os.PathLike[str]) -> set[str]:
    """``family`` plus, for a model card ``x.json``, the files ``x.*`` beside it (its weights)."""
    out = family(path)
    p = Path(norm_path(path))
    if p.suffix.lower() == ".json" and p.parent.is_dir():
        out.update(norm_path(q) for q in p.parent.glob(p.stem + ".*"))
    return out


#: GDAL virtual file systems whose path continues with a local archive or file
_VSI_LOCAL = ("/vsizip/", "/vsigzip/", "/vsitar/", "/vsi7z/", "/vsirar/", "/vsisubfile/", "/vsicrypt/")


def real_sources(path: str, _seen: set[str] | None = None) -> list[str]:
    """The local files an input really reads: itself, and what it wraps, recursively.

    Why: an output compared with the input's *name* only can still destroy it through an
    indirection: a GDAL VRT that wraps ``slope.tif`` (given as a factor, with ``slope.tif`` as the
    output), a ``/vsizip/`` path into an archive, a QGIS layer source ``x.gpkg|layername=y`` or an
    ``ogr:dbname='x.gpkg' table=y`` URI. Symbolic links are resolved by :func:`norm_path`; hard
    links are caught by file identity in :meth:`OutputTransaction.check`.
    """
    seen = _seen if _seen is not None else set()
    p = provider_file(path)
    if not p:
        return []
    for prefix in _VSI_LOCAL:
        if p.startswith(prefix):
            rest = p[len(prefix) :]
            if prefix == "/vsisubfile/":
                rest = rest.split("_", 1)[-1].split(",", 1)[-1]
            return _existing_prefix(rest)
    if p.startswith("/vsi"):
        return []  # remote (/vsicurl/, /vsis3/ ...) or in memory: nothing local to destroy
    n = norm_path(p)
    if n in seen:
        return []
    seen.add(n)
    out = [p]
    if n.lower().endswith(".vrt") and os.path.isfile(n):
        for src in _vrt_sources(n):
            out += real_sources(src, seen)
    return out


def provider_file(uri: str) -> str:
    """The file behind a QGIS/GDAL data source string ("" for databases and memory layers).

    Handles ``x.gpkg|layername=a``, ``ogr:dbname='x.gpkg' table=...`` and ``GPKG:x.gpkg:table``;
    any other string is taken as a file path.
    """
    s = str(uri).strip()
    if s.startswith(("memory:", "postgres", "dbname=", "mssql:", "oracle:", "wms:", "xyz:")):
        return ""
    if s.startswith(("ogr:", "spatialite:")):
        import re

        m = re.search(r"dbname=(?:'([^']*)'|\"([^\"]*)\"|(\S+))", s)
        return (m.group(1) or m.group(2) or m.group(3)) if m else ""
    if s.upper().startswith("GPKG:"):
        return s[5:].rsplit(":", 1)[0] if s.count(":") >= 2 else s[5:]
    return s.split("|", 1)[0]


def _existing_prefix(path: str) -> list[str]:
    """The longest leading part of ``/archive.zip/inner/file.tif`` that is an existing file."""
    p = Path(path)
    for cand in [p, *p.parents]:
        if cand.is_file():
            return [str(cand)]
    return []


def _vrt_sources(vrt: str) -> list[str]:
    """Every dataset a VRT names (``SourceFilename``, a warped VRT's ``SourceDataset``), as paths."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(vrt).getroot()
    except (ET.ParseError, OSError):
        return []
    base = os.path.dirname(vrt)
    out = []
    for el in root.iter():
        name = (el.text or "").strip()
        if el.tag not in ("SourceFilename", "SourceDataset") or not name:
            continue
        relative = el.get("relativeToVRT", el.get("relativetoVRT", "0")) == "1"
        if relative and not name.startswith("/vsi"):
            name = os.path.join(base, name)
        out.append(name)
    return out


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of an existing file: two names of one hard-linked file share it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if st.st_ino else None


#: GDAL's message for a block it could not read: "<file>, band N: IReadBlock failed at ..."
_READ_FAILURE = re.compile(r"(\S+), band \d+: IReadBlock failed")


def describe_os_error(exc: BaseException, fallback_path: str = "") -> str:
    """One sentence for an operating-system error, naming the path and what to do about it."""
    path = getattr(exc, "filename", None) or fallback_path
    code = getattr(exc, "errno", None)
    text = str(exc)
    # rasterio 1.4 (QGIS 3.40+ distributions) raises "Read failed. See previous exception for details."
    # with GDAL's own message as the cause: read the whole chain
    chain: list[str] = []
    e: BaseException | None = exc
    while e is not None and len(chain) < 5:
        chain.append(str(e))
        e = e.__cause__ or e.__context__
    whole = "\n".join(chain)
    read = _READ_FAILURE.search(whole)
    signs = ("IReadBlock failed", "TIFFRead", "TIFFFetch", "not recognized as a supported", "Read failed")
    if read or any(k in whole for k in signs):
        name = read.group(1) if read else (path or "an input file")
        # GDAL's own message (the cause) says more than rasterio's "Read failed"
        detail = next((c for c in reversed(chain) if _READ_FAILURE.search(c) or "TIFF" in c), text)
        return (
            f"Cannot read the input '{name}': the file is damaged or truncated (an interrupted copy or download?) "
            f"({detail.strip().splitlines()[-1][:200]}). Re-create or copy it again, then rerun."
        )
    if code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text or "Free disk space" in text:
        return (
            f"No space left on the disk holding '{path}': free some space or choose an output folder on another disk."
        )
    if code == errno.EROFS or "Read-only file system" in text:
        return f"'{path}' is on a read-only file system: choose an output folder you can write to."
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return f"Permission denied for '{path}': choose an output folder you can write to, or change its permissions."
    if code == errno.ENAMETOOLONG or "File name too long" in text:
        return f"The file name '{path}' is too long for the file system: choose a shorter name or folder."
    if code == errno.ENOTDIR:
        return f"'{path}' is used as a folder but a file of that name exists: choose another output path."
    if code == errno.EISDIR:
        return f"'{path}' is a folder, not a file: choose a file name for this output."
    return f"Could not write '{path}': {text}"


#: a staging folder of unknown owner (written before owners were recorded) is stale after this long
_STALE_AFTER_S = 24 * 3600


def _host_tag() -> str:
    """A short tag of this machine: a staging folder on a network share may belong to another one."""
    import hashlib
    import socket

    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _pid_alive(pid: int) -> bool:
    """Whether a process runs (POSIX). Windows: always True (``os.kill`` would terminate it there)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to another user
        return True
    return True


def clean_stale_staging(folder: str | os.PathLike[str]) -> list[str]:
    """Remove staging folders left in ``folder`` by runs that were killed; returns what was removed.

    Why: a run killed with ``kill -9`` (or a crash of QGIS) cannot clean up, and its hidden staging
    folder (possibly hundreds of MB) stayed forever. A staging folder is stale when its name says
    it belongs to this machine and its process is gone, or, for folders of unknown owner, when it
    is more than a day old. A folder holding a ``.backup-*`` (the user's previous file, moved aside
    by a commit that was killed half-way) is never deleted.
    """
    import time

    removed: list[str] = []
    try:
        candidates = [d for d in Path(folder).iterdir() if d.name.startswith(STAGING_PREFIX) and d.is_dir()]
    except OSError:
        return removed
    host = _host_tag()
    for d in candidates:
        parts = d.name[len(STAGING_PREFIX) :].split("-")
        try:
            if len(parts) >= 3 and parts[0] == host and parts[1].isdigit():
                stale = int(parts[1]) != os.getpid() and not _pid_alive(int(parts[1]))
            elif len(parts) >= 3 and len(parts[0]) == 8 and parts[1].isdigit():
                stale = False  # another machine's run: it may be running
            else:
                stale = time.time() - d.stat().st_mtime > _STALE_AFTER_S
            if stale and not any(d.glob(".backup-*")):
                shutil.rmtree(d)
                removed.append(str(d))
        except OSError:
            continue
    return removed


@dataclass
class _Output:
    """One declared output: a file the user chose, or a folder that receives several files."""

    name: str
    final: Path
    is_folder: bool
    planned: tuple[str, ...] = ()  # file names (relative) the algorithm knows it will write into a folder
    staging: Path | None = None


@dataclass
class OutputTransaction:
    """Stage, check and publish the outputs of one run (see the module docstring)."""

    inputs: list[str] = field(default_factory=list)
    outputs: list[_Output] = field(default_factory=list)
    _created_dirs: list[Path] = field(default_factory=list)
    _committed: bool = False
    _real_cache: dict[str, list[str]] | None = None

    # -- declaring -------------------------------------------------------------------------
    def add_input(self, path: str | os.PathLike[str] | None) -> None:
        """Declare a file or folder that the run reads (it will never be written).

        QGIS source strings and ``ogr:`` URIs are reduced to their file (:func:`provider_file`).
        """
        f = provider_file(os.fspath(path)) if path else ""
        if f:
            self.inputs.append(f)

    def add_file(self, name: str, final: str) -> None:
        """Declare an output file chosen by the user (``name`` is the parameter, for messages)."""
        self.outputs.append(_Output(name, Path(os.path.abspath(final)), False))

    def add_folder(self, name: str, final: str, planned: Iterable[str] = ()) -> None:
        """Declare an output folder; ``planned`` are file names known to be written into it."""
        self.outputs.append(_Output(name, Path(os.path.abspath(final)), True, tuple(planned)))

    # -- checking before any work ------------------------------------------------------------
    def _reals(self) -> dict[str, list[str]]:
        """Each input -> the files it really reads (:func:`real_sources`, itself when none), resolved once.

        Why once: a VRT is parsed (recursively) to find its sources; check and commit both need them.
        """
        if self._real_cache is None or set(self._real_cache) != set(self.inputs):
            self._real_cache = {i: real_sources(i) or [i] for i in self.inputs}
        return self._real_cache

    def _input_files(self) -> dict[str, str]:
        """Normalised path of every input, input sidecar and wrapped file -> the input as messages name it.

        A wrapped file is named ``'slope.tif' (read through 'factor.vrt')``.
        """
        owned: dict[str, str] = {}
        for i, reals in self._reals().items():
            for real in reals:
                for f in input_family(real):
                    owned.setdefault(f, f"'{i}'" if real == i else f"'{real}' (read through '{i}')")
        return owned

    def _input_identities(self) -> dict[tuple[int, int], str]:
        """(device, inode) of every existing input file -> the input (hard links share it)."""
        out: dict[tuple[int, int], str] = {}
        for i, reals in self._reals().items():
            for real in reals:
                ident = _identity(real)
                if ident and os.path.isfile(real):
                    out.setdefault(ident, i)
        return out

    def _input_dirs(self) -> list[str]:
        return [norm_path(i) for i in self.inputs if os.path.isdir(i)]

    def check(self) -> None:
        """Refuse, before any work, outputs that would destroy an input or each other."""
        owned = self._input_files()
        idents = self._input_identities()
        mains = {norm_path(r) for reals in self._reals().values() for r in reals}
        in_dirs = self._input_dirs()
        seen: dict[str, str] = {}
        for o in self.outputs:
            fin = norm_path(o.final)
            if fin in owned:
                side = "" if fin in mains else " (one of its sidecar files)"
                raise InvalidInputError(
                    f"Output {o.name} '{o.final}' would overwrite the input {owned[fin]}{side}: "
                    "choose another output path."
                )
            ident = None if o.is_folder else _identity(fin)
            if ident in idents:
                raise InvalidInputError(
                    f"Output {o.name} '{o.final}' is the input '{idents[ident]}' under another name (a hard link): "
                    "writing it would replace the input; choose another output path."
                )
            for d in in_dirs:
                if fin == d or fin.startswith(d + os.sep):
                    raise InvalidInputError(
                        f"Output {o.name} '{o.final}' lies inside the input folder '{d}': outputs would mix with "
                        "the inputs (and be read as inputs next time); choose a folder outside it."
                    )
            if o.is_folder and o.final.exists() and not o.final.is_dir():
                raise InvalidInputError(f"Output folder {o.name} '{o.final}' is an existing file: choose a folder.")
            if not o.is_folder and o.final.is_dir():
                raise InvalidInputError(f"Output {o.name} '{o.final}' is an existing folder: choose a file name.")
            claims = [fin] if not o.is_folder else [norm_path(o.final / p) for p in o.planned] + [fin]
            for c in claims:
                if c in seen and seen[c] != o.name:
                    raise InvalidInputError(
                        f"Outputs {seen[c]} and {o.name} both name '{c}': give each output its own path."
                    )
                seen[c] = o.name
            for p in o.planned:
                dest = o.final / p
                if norm_path(dest) in owned:
                    raise InvalidInputError(
                        f"{o.name} would write '{p}' into '{o.final}', replacing the input {owned[norm_path(dest)]}: "
                        "choose another output folder."
                    )
                self._refuse_foreign(o, dest)
        # sidecars of one file output must not be another output (ZONING = OUTPUT's .qml, etc.)
        files = [o for o in self.outputs if not o.is_folder]
        for a in files:
            for b in files:
                if a is not b and norm_path(b.final) in family(a.final) - {norm_path(a.final)}:
                    raise InvalidInputError(
                        f"Output {b.name} '{b.final}' is a sidecar file of output {a.name} '{a.final}': "
                        "choose another name."
                    )

    @staticmethod
    def _manifest(folder: Path) -> set[str]:
        try:
            return set(json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("files", []))
        except (OSError, ValueError, AttributeError):
            return set()

    def _refuse_foreign(self, o: _Output, dest: Path) -> None:
        """An existing file in an output folder that Landslide AI did not write is the user's: refuse."""
        if dest.exists() and not dest.is_dir():
            rel = dest.relative_to(o.final).as_posix()
            if rel not in self._manifest(o.final):
                raise InvalidInputError(
                    f"{o.name} '{o.final}' already holds '{rel}', which Landslide AI did not write: "
                    "choose an empty (or new) output folder, or move that file away."
                )

    # -- staging -----------------------------------------------------------------------------
    def _mkdirs(self, folder: Path) -> None:
        missing = []
        p = folder
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir()
            self._created_dirs.append(d)

    def stage(self) -> dict[str, str]:
        """Create the staging folders; returns parameter name -> path the engine writes to."""
        staged: dict[str, str] = {}
        for o in self.outputs:
            parent = o.final.parent
            try:
                self._mkdirs(parent)
                clean_stale_staging(parent)
                o.staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{_host_tag()}-{os.getpid()}-", dir=parent))
            except OSError as exc:
                raise OutputError(describe_os_error(exc, str(parent))) from exc
            staged[o.name] = str(o.staging if o.is_folder else o.staging / o.final.name)
        return staged

    def final_path(self, path: str) -> str:
        """The published path of a path inside a staging folder (other paths unchanged)."""
        if not isinstance(path, str) or not path:
            return path
        p = Path(os.path.abspath(path))
        for o in self.outputs:
            if o.staging is None:
                continue
            with contextlib.suppress(ValueError):
                rel = p.relative_to(o.staging)
                base = o.final if o.is_folder else o.final.parent
                return str(base / rel) if str(rel) != "." else str(base)
        return path

    def map_result(self, value: object) -> object:
        """``final_path`` applied to a result value (str, list or dict of them)."""
        if isinstance(value, str):
            return self.final_path(value)
        if isinstance(value, list | tuple):
            return type(value)(self.map_result(v) for v in value)
        if isinstance(value, dict):
            return {k: self.map_result(v) for k, v in value.items()}
        return value

    # -- publishing --------------------------------------------------------------------------
    def _moves(self) -> list[tuple[Path, Path, _Output]]:
        """Every staged file -> its destination."""
        moves = []
        for o in self.outputs:
            if o.staging is None or not o.staging.exists():
                continue  # nothing staged for this output
            base = o.final if o.is_folder else o.final.parent
            for root, _dirs, files in os.walk(o.staging):
                for f in files:
                    src = Path(root) / f
                    moves.append((src, base / src.relative_to(o.staging), o))
        return moves

    def commit(self) -> list[str]:
        """Publish every staged file (all or none); returns the published paths."""
        moves = self._moves()
        owned = self._input_files()
        seen: dict[str, Path] = {}
        for src, dest, o in moves:
            d = norm_path(dest)
            if d in owned:
                raise InvalidInputError(
                    f"{o.name} would replace the input {owned[d]} with '{dest.name}': choose another output path."
                )
            if d in seen:
                raise InvalidInputError(f"Two outputs of this run would both write '{dest}': give each its own path.")
            seen[d] = src
            if o.is_folder:
                self._refuse_foreign(o, dest)
        backups: list[tuple[Path, Path]] = []
        placed: list[Path] = []
        made: list[Path] = []
        try:
            for src, dest, o in moves:
                if not dest.parent.exists():
                    for parent in reversed([*dest.parents]):
                        if not parent.exists():
                            parent.mkdir()
                            made.append(parent)
                if dest.exists() or dest.is_symlink():
                    bak = Path(o.staging or dest.parent) / f".backup-{len(backups)}"
                    os.replace(dest, bak)
                    backups.append((bak, dest))
                os.replace(src, dest)
                placed.append(dest)
            for o in self.outputs:
                if o.is_folder and o.staging is not None:
                    if not o.final.exists():  # a folder output the run put nothing in (a gallery without mistakes)
                        o.final.mkdir(parents=True)
                        made.append(o.final)
                    names = self._manifest(o.final) | {
                        dest.relative_to(o.final).as_posix() for _s, dest, oo in moves if oo is o
                    }
                    (o.final / MANIFEST).write_text(json.dumps({"files": sorted(names)}, indent=1), encoding="utf-8")
        except OSError as exc:
            for p in placed:
                with contextlib.suppress(OSError):
                    p.unlink()
            for bak, dest in reversed(backups):
                with contextlib.suppress(OSError):
                    os.replace(bak, dest)
            for parent in reversed(made):
                with contextlib.suppress(OSError):
                    parent.rmdir()
            raise OutputError(describe_os_error(exc)) from exc
        self._committed = True
        self._cleanup(remove_created=False)
        return [str(d) for d in placed]

    def published_text(self, text: str) -> str:
        """``text`` (what a command printed while running) with staging paths replaced by published ones."""
        for o in self.outputs:
            if o.staging is not None:
                text = text.replace(str(o.staging), str(o.final if o.is_folder else o.final.parent))
        return text

    def rollback(self) -> None:
        """Remove every staged file and every folder the run created (nothing new is left)."""
        if not self._committed:
            self._cleanup(remove_created=True)

    def _cleanup(self, remove_created: bool) -> None:
        for o in self.outputs:
            if o.staging is not None:  # the path is kept: final_path still maps results afterwards
                shutil.rmtree(o.staging, ignore_errors=True)
        if remove_created:
            for d in reversed(self._created_dirs):
                with contextlib.suppress(OSError):
                    d.rmdir()  # only when empty: never removes anything else
        self._created_dirs.clear()
