"""Aligned stacking of conditioning factors onto one reference grid.

Factors arrive in any CRS, resolution and extent. Each is warped on the fly (GDAL ``WarpedVRT``)
onto the reference grid and read window by window, so memory stays bounded by the window size
whatever the study area. Categorical factors use nearest neighbour (a class code must never be
averaged), continuous ones bilinear. A cell is valid only if every factor has data there: the
common nodata mask that training and prediction rely on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from ..errors import GridMismatchError, InvalidInputError
from ..progress import NullProgress, Progress, check
from .grid import Grid
from .io import FLOAT_NODATA, atomic_path, bounded_gdal_cache, read_padded, valid_mask, write_text_atomic

#: band metadata item marking a categorical factor (codes, not quantities)
CATEGORICAL_TAG = "LSM_CATEGORICAL"
#: dataset metadata item holding a temporal stack's layout as JSON ({"n_steps": 12, "variables": [...]})
TEMPORAL_TAG = "LSM_TEMPORAL"


@dataclass(frozen=True)
class FactorSpec:
    """One input factor.

    Attributes:
        path: raster file.
        name: band description in the stack (the factor's name in model cards).
        categorical: nearest-neighbour resampling and no standardisation semantics.
        band: 1-based band of ``path`` to use.
    """

    path: str
    name: str
    categorical: bool = False
    band: int = 1


@dataclass
class StackReport:
    """What :func:`stack_factors` did, written next to the stack as JSON."""

    output: str
    grid: dict
    factors: list[dict] = field(default_factory=list)
    valid_cells: int = 0
    total_cells: int = 0
    temporal: dict | None = None

    def to_json(self) -> str:
        """Pretty JSON."""
        return json.dumps(asdict(self), indent=2)


def _open_checked(spec: FactorSpec) -> rasterio.io.DatasetReader:
    try:
        ds = rasterio.open(spec.path)
    except rasterio.errors.RasterioIOError as exc:
        raise InvalidInputError(f"Cannot open factor '{spec.name}' ({spec.path}): {exc}") from exc
    if ds.crs is None:
        ds.close()
        raise InvalidInputError(f"Factor '{spec.name}' ({spec.path}) has no CRS; assign one before stacking.")
    if not 1 <= spec.band <= ds.count:
        ds.close()
        raise InvalidInputError(f"Factor '{spec.name}': band {spec.band} requested but {spec.path} has {ds.count}.")
    return ds


def reference_grid(
    factors: list[FactorSpec],
    resolution_m: float = 30.0,
    crs_wkt: str | None = None,
    bounds: tuple[float, float, float, float] | None = None,
) -> Grid:
    """The grid every factor is resampled onto.

    Default CRS: the first factor's. Default extent: the intersection of all factor extents
    (cells outside any factor could only be nodata). All factors must be in projected CRSs:
    a geographic factor next to projected ones is almost always a forgotten reprojection and
    would make ``resolution_m`` meaningless, so it is refused.
    """
    if not factors:
        raise InvalidInputError("No factor rasters given; add at least one.")
    names = [f.name for f in factors]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInputError(f"Factor names must be unique; repeated: {', '.join(dupes)}.")
    infos = []
    for spec in factors:
        with _open_checked(spec) as ds:
            infos.append((spec, ds.crs, ds.bounds))
            if len(infos) == 1:
                anchor = (ds.transform.c, ds.transform.f)
    geographic = [s.name for s, crs, _ in infos if crs.is_geographic]
    projected = [s.name for s, crs, _ in infos if not crs.is_geographic]
    if geographic and projected:
        raise GridMismatchError(
            f"Factor(s) {', '.join(geographic)} are in a geographic CRS (degrees) while "
            f"{', '.join(projected)} are projected (metres). Reproject them to the study area's projected CRS "
            "(Raster > Projections > Warp) so that the 30 m grid means metres everywhere."
        )
    ref_crs = rasterio.crs.CRS.from_wkt(crs_wkt) if crs_wkt else infos[0][1]
    if ref_crs.is_geographic:
        raise GridMismatchError(
            "The reference CRS is geographic (degrees); a resolution in metres needs a projected CRS. "
            "Choose a projected CRS (e.g. the local UTM zone) as the reference."
        )
    if bounds is None:
        lefts, bottoms, rights, tops = [], [], [], []
        for _, crs, b in infos:
            left, bottom, right, top = transform_bounds(crs, ref_crs, *b, densify_pts=21)
            lefts.append(left)
            bottoms.append(bottom)
            rights.append(right)
            tops.append(top)
        bounds = (max(lefts), max(bottoms), min(rights), min(tops))
        if bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
            raise GridMismatchError("The factor rasters do not overlap; check that they cover the same study area.")
    if not crs_wkt or rasterio.crs.CRS.from_wkt(crs_wkt) == infos[0][1]:
        grid = Grid.from_bounds(ref_crs.to_wkt(), bounds, resolution_m, anchor)
    else:
        grid = Grid.from_bounds(ref_crs.to_wkt(), bounds, resolution_m)
    if grid.width < MIN_GRID_CELLS or grid.height < MIN_GRID_CELLS:
        areas = {s.name: (b[2] - b[0]) * (b[3] - b[1]) for s, _crs, b in infos}
        smallest = min(areas, key=lambda n: areas[n])
        raise GridMismatchError(
            f"The stack would be only {grid.width} x {grid.height} cells of {resolution_m:g} m: the factors' common "
            f"extent is too small (smallest factor: '{smallest}'). Check that every factor covers the study area, "
            "or use a finer cell size."
        )
    return grid


#: fewest cells per side of a stack: fewer cannot hold a landslide, its surroundings and a test area.
MIN_GRID_CELLS = 3


@bounded_gdal_cache
def stack_factors(
    factors: list[FactorSpec],
    output: str,
    grid: Grid | None = None,
    resolution_m: float = 30.0,
    block: int = 512,
    progress: Progress | None = None,
    temporal: dict | None = None,
    crs_wkt: str | None = None,
    bounds: tuple[float, float, float, float] | None = None,
) -> Stack:
    """Resample ``factors`` onto one grid and write a float32 multiband GeoTIFF.

    Each factor's own nodata value (or NaN) is honoured when reading, so factors with different
    nodata conventions stack correctly; the output has one nodata value (``FLOAT_NODATA``) and one
    common mask. A JSON alignment report is written to ``<output>.json``.

    Args:
        factors: the factors, in band order.
        output: GeoTIFF path.
        grid: reference grid (e.g. a factor stack's, for its climate stack); default
            :func:`reference_grid` of the factors at ``resolution_m`` in ``crs_wkt`` over ``bounds``.
        resolution_m: cell size when ``grid`` is not given.
        block: window size in cells (memory is O(block^2 * n_factors)).
        progress: progress sink.
        temporal: optional layout metadata (``{"n_steps": 12, "variables": [...]}``) for climate stacks.
        crs_wkt: target CRS when ``grid`` is not given (default: the first factor's).
        bounds: target extent (xmin, ymin, xmax, ymax) in that CRS when ``grid`` is not given.

    Returns:
        The written stack (opened as :func:`open_stack` does), its alignment report in ``report``.
    """
    progress = progress or NullProgress()
    if grid is None:
        grid = reference_grid(factors, resolution_m, crs_wkt, bounds)
    else:
        reference_grid(factors, grid.resolution[0], grid.crs_wkt, grid.bounds)  # same CRS checks
    report = StackReport(
        output=str(output), grid=grid.to_dict(), total_cells=grid.width * grid.height, temporal=temporal
    )
    sources = [_open_checked(s) for s in factors]
    vrts = []
    try:
        for spec, ds in zip(factors, sources):
            res = Resampling.nearest if spec.categorical else Resampling.bilinear
            vrts.append(
                WarpedVRT(
                    ds,
                    crs=grid.crs,
                    transform=grid.affine,
                    width=grid.width,
                    height=grid.height,
                    resampling=res,
                    src_nodata=ds.nodatavals[spec.band - 1],
                    nodata=np.nan,
                    dtype="float32",
                )
            )
            src_res = max(abs(ds.res[0]), abs(ds.res[1]))
            cell = grid.resolution[0]
            same_units = not ds.crs.is_geographic if ds.crs else False
            if same_units and abs(src_res - cell) > 0.01 * cell:
                how = "coarser: values interpolated" if src_res > cell else "finer: detail averaged away"
                if spec.categorical:
                    how = "nearest class" + (" (finer source: small patches may vanish)" if src_res < cell else "")
                progress.log(
                    f"Note: factor '{spec.name}' is resampled from its native {src_res:g} m cells to the stack's "
                    f"{cell:g} m ({how}). Stack at {src_res:g} m to keep it native."
                )
            report.factors.append(
                {
                    "name": spec.name,
                    "path": str(spec.path),
                    "band": spec.band,
                    "categorical": spec.categorical,
                    "resampling": res.name,
                    "source_crs": ds.crs.to_string(),
                    "source_resolution": list(ds.res),
                    "source_nodata": ds.nodatavals[spec.band - 1],
                }
            )
        profile = grid.profile(len(factors), "float32", FLOAT_NODATA)
        stats = np.zeros((len(factors), 4))  # n, sum, min, max
        stats[:, 2] = np.inf
        stats[:, 3] = -np.inf
        n_win = grid.n_windows(block)
        with atomic_path(output) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                for i, spec in enumerate(factors):
                    dst.set_band_description(i + 1, spec.name)
                    if spec.categorical:  # travels with the raster, not only in the JSON sidecar
                        dst.update_tags(i + 1, **{CATEGORICAL_TAG: "1"})
                if temporal:
                    dst.update_tags(**{TEMPORAL_TAG: json.dumps(temporal)})
                for k, win in enumerate(grid.windows(block)):
                    check(progress)
                    data = np.stack([v.read(s.band, window=win) for v, s in zip(vrts, factors)])
                    ok = np.all(valid_mask(data, None), axis=0)
                    report.valid_cells += int(ok.sum())
                    for i in range(len(factors)):
                        vals = data[i][ok]
                        if vals.size:
                            stats[i, 0] += vals.size
                            stats[i, 1] += float(vals.sum(dtype=np.float64))
                            stats[i, 2] = min(stats[i, 2], float(vals.min()))
                            stats[i, 3] = max(stats[i, 3], float(vals.max()))
                    data[:, ~ok] = FLOAT_NODATA
                    dst.write(data, window=win)
                    progress.report((k + 1) / n_win, f"window {k + 1}/{n_win}")
            if report.valid_cells == 0:
                raise InvalidInputError(
                    "The stacked factors share no valid cell: every cell is nodata in at least one factor. "
                    "Check the factors' extents and nodata values."
                )
            for i, f in enumerate(report.factors):
                n = stats[i, 0]
                f["stacked_min"] = float(stats[i, 2]) if n else None
                f["stacked_max"] = float(stats[i, 3]) if n else None
                f["stacked_mean"] = float(stats[i, 1] / n) if n else None
    finally:
        for v in vrts:
            v.close()
        for s in sources:
            s.close()
    write_text_atomic(Path(str(output) + ".json"), report.to_json())
    return replace(open_stack(str(output)), report=report)


def monthly_specs(rain: list[str], temp: list[str]) -> tuple[list[FactorSpec], dict]:
    """Factor specs for a 12-month rainfall + temperature temporal stack (variable-major order).

    The LSTM reads the stack as a (n_steps, n_variables) sequence per cell; the band order and
    this layout dict travel in the stack's JSON report and the model card.
    """
    if len(rain) != len(temp) or not rain:
        raise InvalidInputError(
            f"Give the same number of monthly rainfall and temperature rasters (got {len(rain)} and {len(temp)})."
        )
    specs = [FactorSpec(p, f"rain_{i + 1:02d}") for i, p in enumerate(rain)]
    specs += [FactorSpec(p, f"temp_{i + 1:02d}") for i, p in enumerate(temp)]
    return specs, {"n_steps": len(rain), "variables": ["rain", "temp"]}


@dataclass(frozen=True)
class Stack:
    """A factor (or climate) stack, opened and validated once, then passed to every engine step.

    Why a value and not a path: the stack used to travel as a path string re-opened about ten times
    per run, its layout in a sidecar file found by name. :func:`open_stack` reads everything a step
    needs from the raster itself (band names, nodata, categorical flags, temporal layout), and
    :func:`stack_factors` returns the stack it wrote; functions taking a ``StackLike`` accept either.
    """

    path: str
    grid: Grid
    names: list[str]
    nodata: float | None
    #: names of the categorical factors (band metadata written by :func:`stack_factors`)
    categorical: tuple[str, ...] = ()
    #: layout of a temporal (climate) stack, ``{"n_steps": 12, "variables": ["rain", "temp"]}``, else None
    temporal: dict | None = None
    #: the alignment report, when this value came from :func:`stack_factors` (also in ``<path>.json``)
    report: StackReport | None = field(default=None, compare=False, repr=False)


#: a stack or its path (functions open a path once with :func:`as_stack`)
StackLike = Stack | str


def as_stack(stack: StackLike) -> Stack:
    """The :class:`Stack` of a path (opened and validated), or the value itself."""
    return stack if isinstance(stack, Stack) else open_stack(stack)


def _sidecar_layout(path: str) -> dict | None:
    """The temporal layout of a stack written before the layout travelled in its metadata."""
    report = Path(str(path) + ".json")
    if not report.exists():
        return None
    try:
        return json.loads(report.read_text(encoding="utf-8")).get("temporal")
    except (json.JSONDecodeError, OSError, AttributeError):
        return None


def temporal_layout(info: Stack) -> tuple[int, int]:
    """(n_steps, n_variables) of a variable-major temporal stack, from its layout or its band names.

    Band names ``rain_01 .. rain_12, temp_01 .. temp_12`` (what :func:`monthly_specs` writes) are
    read as 2 variables x 12 steps when the layout is missing; anything else is refused rather
    than guessed, since a wrong split would feed the LSTM scrambled months.
    """
    if info.temporal:
        n_vars = len(info.temporal["variables"])
    else:
        prefixes = list(dict.fromkeys(n.rsplit("_", 1)[0] for n in info.names))
        n_vars = len(prefixes)
        if any("_" not in n for n in info.names) or prefixes == ["band"]:  # GDAL's default names say nothing
            n_vars = 0
    if n_vars < 1 or len(info.names) % n_vars:
        raise InvalidInputError(
            f"The temporal stack {info.path} does not say how its {len(info.names)} bands split into variables and "
            "months. Build it with lsm_stack_factors (monthly rainfall and temperature rasters)."
        )
    return len(info.names) // n_vars, n_vars


def temporal_variables(info: Stack) -> list[str]:
    """Names of a temporal stack's variables (e.g. ``["rain", "temp"]``), from its layout or band names."""
    n_steps, n_vars = temporal_layout(info)
    if info.temporal:
        return [str(v) for v in info.temporal["variables"]]
    return [info.names[v * n_steps].rsplit("_", 1)[0] for v in range(n_vars)]


def open_stack(path: str) -> Stack:
    """Describe a stack and refuse ambiguous ones.

    A multiband stack whose bands declare *different* nodata values cannot have one common mask,
    so it is refused with a pointer to ``lsm_stack_factors``, which writes a consistent one.
    """
    try:
        with rasterio.open(path) as ds:
            grid = Grid.from_dataset(ds)
            nodatas = {None if v is None else float(v) for v in ds.nodatavals}
            nodatas_str = {("nan" if (v is not None and np.isnan(v)) else v) for v in nodatas}
            if len(nodatas_str) > 1:
                raise GridMismatchError(
                    f"The bands of {path} declare different nodata values ({sorted(map(str, nodatas_str))}); "
                    "a stack needs one common nodata mask. Rebuild it with lsm_stack_factors."
                )
            names = [d or f"band_{i + 1}" for i, d in enumerate(ds.descriptions)]
            categorical = tuple(n for i, n in enumerate(names) if ds.tags(i + 1).get(CATEGORICAL_TAG) == "1")
            tag = ds.tags().get(TEMPORAL_TAG)
            return Stack(
                str(path), grid, names, ds.nodatavals[0], categorical, json.loads(tag) if tag else _sidecar_layout(path)
            )
    except rasterio.errors.RasterioIOError as exc:
        raise InvalidInputError(f"Cannot open the stack {path}: {exc}") from exc


def read_block(
    ds: rasterio.io.DatasetReader, win: Window, nodata: float | None, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Read all bands of a window and the common valid mask, refusing undeclared NaN cells.

    NaN cells that are not the declared nodata mean the stack was not made by
    ``lsm_stack_factors`` (or was edited): silently treating them as data would poison a model,
    silently masking them would hide a broken input. Both are worse than a clear error.
    """
    data = read_padded(ds, win, nodata if nodata is not None else np.nan)
    nan = np.isnan(data)
    if nan.any() and not (nodata is not None and np.isnan(nodata)):
        raise InvalidInputError(
            f"{what} contains NaN cells that are not declared nodata (first near row {int(win.row_off)}, "
            f"col {int(win.col_off)}). Rebuild it with lsm_stack_factors or set its nodata value."
        )
    ok = np.all(valid_mask(data, nodata), axis=0)
    return data, ok
