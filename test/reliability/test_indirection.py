"""The output guard sees through indirection: VRTs (nested), /vsizip/ paths, QGIS source strings, ogr: URIs,
hard and symbolic links. Each case asserts the message, that nothing under the folder changed and
that nothing partial was left; URI destinations are refused with a sentence, not written as folders.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import rasterio
from osgeo import gdal
from rel_fixtures import FACTOR_NAMES, snapshot

ROOT = Path(__file__).resolve().parents[2]


def vrt_of(src: str, out: Path, relative: bool = True) -> str:
    """A VRT wrapping ``src`` (relative path inside, as gdalbuildvrt writes beside its sources)."""
    ds = gdal.BuildVRT(str(out), [src])
    ds = None  # noqa: F841 - closing writes the file
    if not relative:
        text = out.read_text().replace('relativeToVRT="1"', 'relativeToVRT="0"')
        text = text.replace(f">{Path(src).name}<", f">{src}<")
        out.write_text(text)
    return str(out)


def stack_params(s: dict, factors: list[str], output: str) -> dict:
    return {"FACTORS": factors, "NAMES": FACTOR_NAMES, "OUTPUT": output}


@pytest.mark.parametrize("relative", [True, False], ids=["relative", "absolute"])
def test_stack_output_onto_the_file_a_vrt_factor_wraps(refused, sandbox, relative):
    s = sandbox
    v = vrt_of(s["slope"], s["dir"] / "slope_view.vrt", relative)
    msg = refused("lsm_stack_factors", stack_params(s, [s["elev"], v, s["twi"]], s["slope"]), "read through", s["dir"])
    assert "slope_view.vrt" in msg


def test_nested_vrt_is_followed(refused, sandbox):
    s = sandbox
    inner = vrt_of(s["slope"], s["dir"] / "inner.vrt")
    outer = vrt_of(inner, s["dir"] / "outer.vrt")
    refused("lsm_stack_factors", stack_params(s, [s["elev"], outer, s["twi"]], s["slope"]), "read through", s["dir"])


def test_predict_onto_the_stack_behind_a_vrt(refused, sandbox):
    s = sandbox
    v = vrt_of(s["stack"], s["dir"] / "stack_view.vrt")
    params = {"MODEL": s["rf"], "STACK": v, "OUTPUT": s["stack"], "ZONING": str(s["dir"] / "z.tif")}
    refused("lsm_predict", params, "would overwrite the input", s["dir"])


def test_vsizip_factor_protects_its_archive(sandbox):
    """On the command line (which takes GDAL paths as they are) a /vsizip/ factor protects its archive."""
    s = sandbox
    z = s["dir"] / "factors.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.write(s["slope"], "slope.tif")
    before = snapshot(s["dir"])
    r = _cli("stack", str(z), f"elev={s['elev']}", f"slope=/vsizip/{z}/slope.tif", f"twi={s['twi']}")
    assert r.returncode == 2 and "would overwrite the input" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert snapshot(s["dir"]) == before


def test_hard_link_to_a_factor_is_refused(refused, sandbox):
    s = sandbox
    link = s["dir"] / "other_name.tif"
    os.link(s["slope"], link)
    refused("lsm_stack_factors", stack_params(s, [s["elev"], s["slope"], s["twi"]], str(link)), "hard link", s["dir"])


def test_symlink_output_onto_a_factor_is_refused(refused, sandbox):
    s = sandbox
    link = s["dir"] / "looks_new.tif"
    link.symlink_to(s["slope"])
    refused(
        "lsm_stack_factors",
        stack_params(s, [s["elev"], s["slope"], s["twi"]], str(link)),
        "would overwrite the input",
        s["dir"],
    )


def _units(tmp_path: Path, world: dict) -> str:
    from helpers import write_polygons
    from shapely.geometry import box

    with rasterio.open(world["stack"]) as ds:
        b, wkt = ds.bounds, ds.crs.to_wkt()
    return write_polygons(tmp_path / "units.gpkg", wkt, [box(b.left, b.bottom, b.right, b.top)])


@pytest.mark.parametrize(
    "dest",
    ["ogr:dbname='{u}' table=\"polygons\" (geom)", "ogr:dbname='{u}' table=\"zoned\" (geom)", "memory:"],
    ids=["same-table", "other-table", "memory"],
)
def test_unit_output_as_a_database_uri_is_refused(refused, world, tmp_path, dest):
    units = _units(tmp_path, world)
    params = {"SUSCEPTIBILITY": world["cf_zoning"], "UNITS": units, "OUTPUT": dest.format(u=units)}
    msg = refused("lsm_aggregate_units", params, "Save to File", tmp_path)
    assert "database" in msg


def test_unit_layer_given_as_a_source_string_is_protected(refused, world, tmp_path):
    units = _units(tmp_path, world)
    params = {"SUSCEPTIBILITY": world["cf_zoning"], "UNITS": f"{units}|layername=polygons", "OUTPUT": units}
    refused("lsm_aggregate_units", params, "would overwrite the input", tmp_path)


def test_sample_output_as_a_uri_creates_no_folder(refused, world, tmp_path):
    params = {
        "STACK": world["stack"],
        "INVENTORY": world["inventory"],
        "STRATEGY": 0,
        "OUTPUT": f"ogr:dbname='{tmp_path / 'samples.gpkg'}' table=\"samples\" (geom)",
    }
    refused("lsm_sample_absences", params, "Save to File", tmp_path)
    assert not list(tmp_path.iterdir())


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_cli_sees_through_a_vrt(sandbox):
    s = sandbox
    v = vrt_of(s["slope"], s["dir"] / "slope_view.vrt")
    before = snapshot(s["dir"])
    r = _cli("stack", s["slope"], f"elev={s['elev']}", f"slope={v}", f"twi={s['twi']}")
    assert r.returncode == 2 and "read through" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert snapshot(s["dir"]) == before


def test_a_vrt_output_of_its_own_is_still_allowed(run_fb, sandbox, tmp_path):
    """Seeing through a VRT must not refuse what is fine: stacking a VRT factor into a new file runs."""
    s = sandbox
    v = vrt_of(s["slope"], s["dir"] / "slope_view.vrt")
    out = run_fb("lsm_stack_factors", stack_params(s, [s["elev"], v, s["twi"]], str(tmp_path / "new.tif")))
    assert Path(out["OUTPUT"]).exists()
