"""Algorithms in real QGIS through processing.run, from stacking to a styled susceptibility map."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from processing_chain import susceptibility_samples

from conftest import train_params, write_raster


@dataclass
class Pipeline:
    """The module's one real pipeline run: folder, then each step's Processing results, then the inventory."""

    dir: Path
    stack: dict
    cf: dict
    samples: dict
    train: dict
    inventory: str


@pytest.fixture(scope="module")
def pipeline(run_alg, tiny_factors, tmp_path_factory):
    paths, inv = tiny_factors
    d = tmp_path_factory.mktemp("alg")
    pre = susceptibility_samples(
        run_alg, d, list(paths.values()), ["elev", "slope", "twi"], inv, BLOCK_SIZE_M=450.0, MIN_SPACING_M=30.0
    )
    stack, samples = {"OUTPUT": pre["stack"], "REPORT": pre["stack_report"]}, {"OUTPUT": pre["samples"]}
    cf = {"ZONING": pre["cf_zoning"], "SCORE": pre["cf_score"], "TABLE_HTML": pre["cf_table_html"]}
    train = run_alg("lsm_train", train_params(pre["stack"], pre["samples"], d / "models", [3, 4], SHAP_SAMPLES=5))
    return Pipeline(d, stack, cf, samples, train, inv)


def test_pipeline_outputs(pipeline, run_alg):
    p = pipeline
    d, stack, cf, samples, train, inv = p.dir, p.stack, p.cf, p.samples, p.train, p.inventory
    assert Path(stack["REPORT"]).exists()
    with rasterio.open(stack["OUTPUT"]) as ds:
        assert ds.descriptions == ("elev", "slope", "twi") and ds.res == (30.0, 30.0)
    assert Path(cf["TABLE_HTML"]).exists() and (d / "cf_zoning.qml").exists()
    from qgis.core import QgsVectorLayer

    lyr = QgsVectorLayer(samples["OUTPUT"], "s")
    assert lyr.featureCount() == 120 and lyr.fields().indexOf("split") >= 0
    # landslides and absences get their own symbols (a categorised style beside the layer)
    qml = Path(samples["OUTPUT"]).with_suffix(".qml")
    assert lyr.loadNamedStyle(str(qml))[1]
    assert lyr.renderer().type() == "categorizedSymbol" and lyr.renderer().classAttribute() == "label"
    assert sorted(str(c.value()) for c in lyr.renderer().categories()) == ["0", "1"]
    from qgis.core import QgsRenderContext

    ctx = QgsRenderContext()
    lyr.renderer().startRender(ctx, lyr.fields())
    shapes = {f["label"]: lyr.renderer().symbolForFeature(f, ctx).symbolLayer(0).shape() for f in lyr.getFeatures()}
    lyr.renderer().stopRender(ctx)
    assert len(set(shapes.values())) == 2  # each class drawn with its own marker
    rows = Path(train["TABLE_CSV"]).read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["CNN-LSTM-AM", "Random Forest"]
    pr = run_alg(
        "lsm_predict",
        {
            "MODEL": str(d / "models" / "cnn_lstm_am.json"),
            "STACK": stack["OUTPUT"],
            "INVENTORY": inv,
            "ZONING_METHOD": 1,
            "OUTPUT": str(d / "sus.tif"),
            "ZONING": str(d / "zones.tif"),
            "ZONE_TABLE": str(d / "zones.csv"),
        },
    )
    with rasterio.open(pr["OUTPUT"]) as ds:
        p = ds.read(1)
    assert 0 <= p[p != -9999].min() and p.max() <= 1
    with rasterio.open(pr["ZONING"]) as ds:
        assert set(np.unique(ds.read(1))) <= {0, 1, 2, 3, 4, 5}
    qml = (d / "zones.qml").read_text()
    assert qml.count("paletteEntry") == 5 and "Very high (" in qml
    from qgis.core import QgsRasterLayer

    lyr = QgsRasterLayer(pr["ZONING"], "z")
    lyr.loadNamedStyle(str(d / "zones.qml"))
    assert lyr.renderer().type() == "paletted"
    assert [c.label for c in lyr.renderer().classes()][0].startswith("Very low")


def test_geographic_factor_is_refused_without_output(run_alg, tiny_factors, tmp_path):
    from qgis.core import QgsProcessingException

    paths, _ = tiny_factors
    geo = write_raster(
        tmp_path / "geo.tif", np.ones((10, 10)), transform=(0.001, 0, -79, 0, -0.001, -3.9), crs="EPSG:4326"
    )
    out = tmp_path / "stack.tif"
    with pytest.raises(QgsProcessingException, match="geographic"):
        run_alg("lsm_stack_factors", {"FACTORS": [paths["elev"], geo], "OUTPUT": str(out)})
    assert not out.exists()


def test_inventory_outside_grid_is_refused(run_alg, pipeline, tmp_path):
    from qgis.core import QgsProcessingException
    from rasterio.crs import CRS

    from landslide_ai.core.sampling.points import write_points

    stack = pipeline.stack
    far = str(tmp_path / "far.gpkg")
    write_points(far, CRS.from_epsg(32717).to_wkt(), np.array([100.0]), np.array([100.0]), {"id": np.array([1])})
    out = tmp_path / "cf.tif"
    with pytest.raises(QgsProcessingException, match="No landslide point"):
        run_alg(
            "lsm_cf_map",
            {
                "STACK": stack["OUTPUT"],
                "INVENTORY": far,
                "SCORE": str(out),
                "ZONING": str(tmp_path / "z.tif"),
                "TABLE_CSV": str(tmp_path / "t.csv"),
            },
        )
    assert not out.exists() and not (tmp_path / "z.tif").exists()


def test_mismatched_model_is_refused(run_alg, pipeline, tiny_factors, tmp_path):
    from qgis.core import QgsProcessingException

    d = pipeline.dir
    paths, _ = tiny_factors
    two = run_alg(
        "lsm_stack_factors",
        {"FACTORS": [paths["elev"], paths["twi"]], "NAMES": "elev,twi", "OUTPUT": str(tmp_path / "two.tif")},
    )
    with pytest.raises(QgsProcessingException, match="trained on factors"):
        run_alg(
            "lsm_predict",
            {
                "MODEL": str(d / "models" / "rf.json"),
                "STACK": two["OUTPUT"],
                "OUTPUT": str(tmp_path / "s.tif"),
                "ZONING": str(tmp_path / "z.tif"),
            },
        )
    assert not (tmp_path / "s.tif").exists() and not (tmp_path / "z.tif").exists()


@pytest.mark.slow
def test_qgis_process_runs_lsm_predict_headless(pipeline, tmp_path):
    """The acceptance command: qgis_process.bin run_alg landslideai:lsm_predict, in its own profile."""
    import subprocess

    if not Path("/usr/bin/qgis_process.bin").exists():
        pytest.skip("no /usr/bin/qgis_process.bin (the QGIS application package is not installed here)")
    d, stack, cf = pipeline.dir, pipeline.stack, pipeline.cf
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in __import__("os").environ.items() if k != "QGIS_CUSTOM_CONFIG_PATH"}
    env["LANDSLIDEAI_QGIS_PROFILE"] = str(tmp_path / "profile")
    out = tmp_path / "sus.tif"
    cmd = [
        "bash",
        str(root / "scripts" / "qgis_process.sh"),
        "run",
        "landslideai:lsm_predict",
        "--",
        f"MODEL={d / 'models' / 'rf.json'}",
        f"STACK={stack['OUTPUT']}",
        f"OUTPUT={out}",
        f"ZONING={tmp_path / 'zones.tif'}",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    with rasterio.open(out) as ds:
        p = ds.read(1)
    assert p.max() <= 1 and (p >= 0).sum() > 3000
    bad = subprocess.run(
        [*cmd[:-3], f"STACK={cf['ZONING']}", f"OUTPUT={tmp_path / 'bad.tif'}", f"ZONING={tmp_path / 'badz.tif'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode != 0 and "trained on factors" in bad.stdout + bad.stderr
    assert not (tmp_path / "bad.tif").exists()


def test_distance_layer_keeps_layer_name_and_filter(run_alg, tiny_factors, tmp_path):
    """Distances to the filtered features of the second layer of a GeoPackage: the decoy first
    layer and the filtered-out feature play no part (was: the file's first layer, unfiltered)."""
    from qgis.core import QgsVectorLayer
    from rasterio.crs import CRS

    from landslide_ai.core.sampling.points import write_points

    wkt = CRS.from_epsg(32717).to_wkt()
    gpkg = tmp_path / "lines.gpkg"
    cell = lambda r, c: (500000.0 + (c + 0.5) * 30, 9560000.0 - (r + 0.5) * 30)  # noqa: E731
    (x0, y0), (x1, y1), (xd, yd) = cell(10, 10), cell(50, 50), cell(30, 30)
    from osgeo import gdal

    a, b = str(tmp_path / "a.gpkg"), str(tmp_path / "b.gpkg")
    write_points(a, wkt, np.array([xd]), np.array([yd]), {"keep": np.array([1], np.int32)}, layer="decoy")
    write_points(b, wkt, np.array([x0, x1]), np.array([y0, y1]), {"keep": np.array([1, 0], np.int32)}, layer="roads")
    gdal.VectorTranslate(str(gpkg), a)
    gdal.VectorTranslate(str(gpkg), b, accessMode="append")
    lyr = QgsVectorLayer(f"{gpkg}|layername=roads", "roads", "ogr")
    assert lyr.isValid() and lyr.featureCount() == 2
    lyr.setSubsetString('"keep" = 1')
    r = run_alg(
        "lsm_derive_terrain",
        {"DEM": tiny_factors[0]["elev"], "VECTORS": [lyr], "OUTPUT_FOLDER": str(tmp_path / "t")},
    )
    dist = [p for p in r["OUTPUT_LAYERS"] if Path(p).name.startswith("dist_")][0]
    with rasterio.open(dist) as ds:
        d = ds.read(1)
    assert d[10, 10] == 0 and d[30, 30] > 500 and d[50, 50] > 1000
