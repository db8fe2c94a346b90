"""Main job: the susceptibility pipeline on the bundled Ecuador sample, through QGIS Processing.

derive terrain -> stack onto 30 m -> CF map -> sample absences (strategy c, spatial blocks)
-> train and compare the six models -> predict with CNN-LSTM-AM -> evaluate the map with rate curves
(held-out test-split landslides against all valid cells) -> styled layers in a project.

The sample has no climate rasters, so the LSTM branch reads the factor vector as a sequence
(``TEMPORAL_MODE`` 0); nothing is invented. ``--full`` trains with the paper's 80 epochs and a
Bayesian search; the default is the same pipeline with fewer epochs so it ends in minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Run the pipeline; print where everything went and the comparison table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "out" / "demo"), help="output folder")
    ap.add_argument("--epochs", type=int, default=25, help="maximum epochs of the deep models")
    ap.add_argument("--search-trials", type=int, default=0, help="Bayesian search trials (0 = paper's optimum)")
    ap.add_argument("--full", action="store_true", help="80 epochs and a 20-trial Bayesian search")
    ap.add_argument("--resolution", type=float, default=30.0, help="grid cell size (m)")
    ap.add_argument("--skip-cracks", action="store_true", help="run only the susceptibility pipeline")
    ap.add_argument("--cv-folds", type=int, default=5, help="spatial cross-validation folds (0 = single split)")
    ap.add_argument("--one-strategy", action="store_true", help="only strategy (c); skip the (a)/(b) comparison")
    ap.add_argument("--crack-epochs", type=int, default=6, help="epochs per crack training stage")
    ap.add_argument("--crack-input-px", type=int, default=112, help="network input size (paper: 227)")
    a = ap.parse_args()
    if a.full:
        a.epochs, a.search_trials, a.crack_epochs, a.crack_input_px = 80, 20, 30, 227
    import tempfile

    link = Path(tempfile.mkdtemp(prefix="lsai_")) / "landslide_ai"
    link.symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(link.parent))
    sys.path.insert(0, "/usr/share/qgis/python/plugins")
    sys.path.insert(0, str(ROOT / "scripts"))
    from processing_chain import start_headless
    from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer

    app = start_headless()
    import processing
    from qgis.core import QgsProcessingFeedback

    class Fb(QgsProcessingFeedback):
        def pushInfo(self, info):  # noqa: N802
            print("   ", info, flush=True)

        def setProgressText(self, text):  # noqa: N802
            pass

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data = ROOT / "sample_data" / "ecuador_rbsf"
    dem, inv = str(data / "dem_10m.tif"), str(data / "landslide_points_all.gpkg")
    t0 = time.time()

    def run(alg, params):
        t = time.time()
        print(f"== {alg}", flush=True)
        r = processing.run(f"landslideai:{alg}", params, feedback=Fb())
        print(f"   ({time.time() - t:.1f} s)", flush=True)
        return r

    from ecuador_pipeline import prepare

    prep = prepare(run, out, dem, inv, resolution=a.resolution)
    stack, samples = prep["stack"], prep["samples"]
    tr = run(
        "lsm_train",
        {
            "STACK": stack,
            "SAMPLES": samples,
            "TEMPORAL_MODE": 0,
            "EPOCHS": a.epochs,
            "SEARCH_TRIALS": a.search_trials,
            "CV_FOLDS": a.cv_folds,
            "OUTPUT_FOLDER": str(out / "models"),
        },
    )
    strategy_tables = {("(c) CF zones 1-2", "cf"): Path(tr["OUTPUT_FOLDER"]) / "cv_comparison.csv"}
    if a.cv_folds >= 2 and not a.one_strategy:
        # the same comparison for strategies (a) and (b): the spatial-CV and prediction-rate AUCs
        # show what the sampling rule, rather than the model, decides
        strategies = (
            (0, "(a) buffer 300 m", {"BUFFER_M": 300.0, "MIN_SPACING_M": 30.0}),
            (1, "(b) slope < 25 deg", {"SLOPE_MAX_DEG": 25.0, "SLOPE_FACTOR": "slope", "MIN_SPACING_M": 30.0}),
        )
        for code, label, extra in strategies:
            other = run(
                "lsm_sample_absences",
                {
                    "STACK": stack,
                    "INVENTORY": inv,
                    "PRESENCE_FIELD": "lslpts",
                    "STRATEGY": code,
                    **extra,
                    "OUTPUT": str(out / f"samples_strategy_{'ab'[code]}.gpkg"),
                },
            )["OUTPUT"]
            t = run(
                "lsm_train",
                {
                    "STACK": stack,
                    "SAMPLES": other,
                    "TEMPORAL_MODE": 0,
                    "EPOCHS": a.epochs,
                    "CV_FOLDS": a.cv_folds,
                    "SHAP_SAMPLES": 0,
                    "OUTPUT_FOLDER": str(out / f"models_strategy_{'ab'[code]}"),
                },
            )
            strategy_tables[(label, ("buffer", "slope")[code])] = Path(t["OUTPUT_FOLDER"]) / "cv_comparison.csv"
        write_strategy_table(strategy_tables, out / "strategy_comparison.csv")
    # the model the CV chose (lsm_train's MODEL_CARD) and the paper's CNN-LSTM-AM, one click apart:
    # each mapped, zoned with its card's breaks, evaluated against all cells, and its texture measured
    from landslide_ai.core.susceptibility.texture import texture_correlation

    mapped_kind = Path(tr["MODEL_CARD"]).stem
    maps = {}
    for kind in dict.fromkeys([mapped_kind, "cnn_lstm_am"]):
        pr = run(
            "lsm_predict",
            {
                "MODEL": str(out / "models" / f"{kind}.json"),
                "STACK": stack,
                "INVENTORY": inv,
                "PRESENCE_FIELD": "lslpts",
                "OUTPUT": str(out / f"susceptibility_{kind}.tif"),
                "ZONING": str(out / f"zoning_{kind}.tif"),
                "ZONE_TABLE": str(out / f"zones_{kind}.csv"),
            },
        )
        ev = run(
            "lsm_evaluate",
            {
                "SUSCEPTIBILITY": pr["OUTPUT"],
                "INVENTORY": samples,
                "PRESENCE_FIELD": "label",
                "SPLIT_FIELD": "split",
                "OUTPUT_HTML": str(out / f"evaluation_{kind}.html"),
                "ZONES_CSV": str(out / f"evaluation_zones_{kind}.csv"),
            },
        )
        texture = texture_correlation(pr["OUTPUT"], stack, "slope")
        print(f"   {kind}: map texture (local detail vs slope's, 5 x 5 cells) r = {texture:.3f}", flush=True)
        maps[kind] = (pr, ev, texture)
    pr, ev, _ = maps[mapped_kind]
    with open(out / "map_texture.csv", "w", encoding="utf-8") as f:
        f.write("model,mapped_by_default,texture_r_vs_slope,cv_prediction_rate_auc,cv_prediction_rate_ci\n")
        for kind, (_, _, texture) in maps.items():
            cv_fig = json.loads((out / "models" / f"{kind}.json").read_text())["metrics"].get("cv", {})
            ci = cv_fig.get("prediction_rate_ci", [float("nan")] * 2)
            f.write(
                f"{kind},{kind == mapped_kind},{texture:.4f},{cv_fig.get('prediction_rate_auc', float('nan')):.4f},"
                f"{ci[0]:.3f}-{ci[1]:.3f}\n"
            )
    project = QgsProject.instance()
    for path, name in (
        (prep["cf_zoning"], "CF zoning"),
        (pr["ZONING"], f"Susceptibility zoning ({mapped_kind}, best CV)"),
        (pr["OUTPUT"], f"Susceptibility ({mapped_kind}, best CV)"),
    ):
        lyr = QgsRasterLayer(path, name)
        lyr.loadNamedStyle(str(Path(path).with_suffix(".qml")))
        project.addMapLayer(lyr)
    sample_layer = QgsVectorLayer(samples, "Samples (landslides and absences)")
    sample_layer.loadNamedStyle(str(Path(samples).with_suffix(".qml")))
    project.addMapLayer(sample_layer)
    # the project opens on the study area: its CRS and default view are the susceptibility map's
    from qgis.core import QgsReferencedRectangle

    main_map = next(lyr for lyr in project.mapLayers().values() if lyr.name().startswith("Susceptibility ("))
    project.setCrs(main_map.crs())
    project.viewSettings().setDefaultViewExtent(QgsReferencedRectangle(main_map.extent(), main_map.crs()))
    project.write(str(out / "landslide_ai_demo.qgz"))
    print(f"\nIndependent of the absences (rate curves, {ev['OUTPUT_HTML']}): see the log lines of lsm_evaluate above.")
    if (out / "strategy_comparison.csv").exists():
        print("\nSpatial cross-validation per sampling strategy (quote these; flags say what the rule decided):")
        print((out / "strategy_comparison.csv").read_text())
    print("\nSaved models (refit on all samples), out-of-fold metrics on the sampled absences (strategy c):")
    print(Path(tr["TABLE_CSV"]).read_text())
    print("Map texture and CV prediction rate of the mapped models:")
    print((out / "map_texture.csv").read_text())
    print(f"Zones ({mapped_kind}, card breaks):")
    print(Path(pr["ZONE_TABLE"]).read_text())
    if not a.skip_cracks:
        before = set(project.mapLayers())
        run_cracks(run, out / "cracks", a, project)
        # the crack layers lie elsewhere (other CRSs): in their own group, switched off
        root = project.layerTreeRoot()
        group = root.addGroup("Cracks (UAV75 scene and maize field: elsewhere, switch on and zoom to layer)")
        for lid in set(project.mapLayers()) - before:
            node = root.findLayer(lid)
            if node is not None:
                group.addChildNode(node.clone())
                node.parent().removeChildNode(node)
        group.setItemVisibilityChecked(False)
        project.write(str(out / "landslide_ai_demo.qgz"))
    print(f"Outputs in {out} (open landslide_ai_demo.qgz in QGIS). Total {time.time() - t0:.0f} s")
    app.exitQgis()
    return 0


def write_strategy_table(tables: dict[tuple[str, str], Path], path: Path) -> None:
    """One CSV: strategy, model, prediction-rate AUC with its interval, separability of the absences, flags.

    The flags say what the sampling rule, not the model, decides: the factors that alone separate
    the absences (``fair_play.csv`` of each run) and the strategy's own caveat (circular for a
    slope threshold, separable by construction for CF zones), from the same function as the report.
    """
    import csv

    from landslide_ai.core.susceptibility.cross_validation import SEPARABILITY
    from landslide_ai.core.susceptibility.evaluate import fair_play_warnings

    keep = ["model", "prediction-rate AUC", "prediction-rate 95% CI", "reading", SEPARABILITY, "separability 95% CI",
            "warnings"]  # fmt: skip
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["strategy", *keep, "factors separating the absences", "sampling rule"])
        for (label, strategy), table in tables.items():
            fair = table.parent / "fair_play.csv"
            flagged = []
            if fair.exists():
                with open(fair, newline="", encoding="utf-8") as g:
                    flagged = [f"{x['factor']} ({x['flag']})" for x in csv.DictReader(g) if x["flag"]]
            rule = " ".join(fair_play_warnings({}, strategy))
            with open(table, newline="", encoding="utf-8") as g:
                for r in csv.DictReader(g):
                    w.writerow([label, *[r[k] for k in keep], "; ".join(flagged), rule])


def _fmt(r: dict, key: str) -> str:
    """``value (low-high)`` of a crack_evaluate metric output."""
    return f"{r[key]:.3f} ({r[key + '_LOW']:.3f}-{r[key + '_HIGH']:.3f})"


def run_cracks(run, out: Path, a, project) -> None:
    """Seven crack classifiers (the paper's 3 architectures x with/without transfer, and the frozen ImageNet
    EfficientNet-Lite0) trained on UAV75's train/val photos, each evaluated on the chips of UAV75's 15
    held-out test photos; the shipped default (EfficientNet-Lite0) and the paper's
    ResNet50+SE mapped over the held-out test scene and scored against its pixel labels; the shipped
    model over the (crack-free) maize orthomosaic to show the unfamiliar-chip mask."""
    from processing_chain import crack_map_params
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    data = ROOT / "sample_data"
    metrics = ("ROC_AUC", "PR_AUC", "ACCURACY", "RECALL", "PRECISION", "F1")
    rows = ["model,transfer,split_test_auc,held_out_images," + ",".join(m.lower() for m in metrics)]
    cards = {}
    for arch_i, arch in enumerate(["cnn", "resnet50", "resnet50_se", "efficientnet_lite0"]):
        lite = arch == "efficientnet_lite0"  # ImageNet-pretrained and frozen: no concrete stage, its native 224 px
        for tl in (False,) if lite else (False, True):
            r = run(
                "crack_train",
                {
                    "TARGET_FOLDER": str(data / "uav75_chips"),
                    "SOURCE_FOLDER": str(data / "concrete_cracks") if tl else None,
                    "ARCHITECTURE": arch_i,
                    "EPOCHS": a.crack_epochs,
                    "INPUT_PX": 224 if lite else a.crack_input_px,
                    "LEARNING_RATE": 1e-3,
                    "OUTPUT_FOLDER": str(out / ("tl" if tl else "scratch")),
                },
            )
            import json

            split_auc = json.loads(Path(r["MODEL_CARD"]).read_text())["metrics"]["test"]["roc_auc"]
            name = Path(r["MODEL_CARD"]).stem
            e = run(
                "crack_evaluate",
                {
                    "MODEL": r["MODEL_CARD"],
                    "IMAGES": str(data / "uav75_test_chips"),
                    "GALLERY_N": 0,
                    "OUTPUT_HTML": str(out / f"held_out_{name}.html"),
                },
            )
            n = len(list((data / "uav75_test_chips").rglob("*.jpg")))
            rows.append(
                f"{arch},{'yes' if tl else 'no'},{split_auc:.3f},{n}," + ",".join(f'"{_fmt(e, k)}"' for k in metrics)
            )
            cards[(arch, tl)] = r["MODEL_CARD"]
    (out / "crack_comparison.csv").write_text("\n".join(rows) + "\n")
    scene, labels = data / "uav75_scene" / "scene_rgb.tif", data / "uav75_scene" / "crack_labels.tif"
    shipped = ROOT / "resources" / "pretrained" / "crack_lite0.json"
    scene_rows = ["model," + ",".join(m.lower() for m in metrics) + ",chips"]
    project.addMapLayer(QgsRasterLayer(str(scene), "UAV75 test scene"))
    pairs = (("shipped EfficientNet-Lite0", str(shipped)), ("ResNet50+SE (transfer)", cards[("resnet50_se", True)]))
    for label, card in pairs:
        tag = "shipped" if card == str(shipped) else "resnet50_se_tl"
        g = run("crack_gradcam", crack_map_params(card, str(scene), out, 227, 256, gradcam=True, prefix=f"scene_{tag}"))
        s = run(
            "crack_evaluate_scene",
            {
                "CHIPS": g["CHIPS"],
                "LABELS": str(labels),
                "OUTPUT_HTML": str(out / f"scene_evaluation_{tag}.html"),
                "CHIPS_CSV": str(out / f"scene_{tag}_chips.csv"),
            },
        )
        n_used = sum(1 for line in Path(s["CHIPS_CSV"]).read_text().splitlines()[1:] if line.endswith(",1"))
        scene_rows.append(f"{label}," + ",".join(f'"{_fmt(s, k)}"' for k in metrics) + f",{n_used}")
        for path, name in ((g["GRADCAM"], f"Grad-CAM ({label})"), (g["OUTPUT"], f"Crack probability ({label})")):
            lyr = QgsRasterLayer(path, name)
            lyr.loadNamedStyle(str(Path(path).with_suffix(".qml")))
            project.addMapLayer(lyr)
        project.addMapLayer(QgsVectorLayer(g["CHIPS"], f"Scene chips ({label})"))
    (out / "crack_scene_evaluation.csv").write_text("\n".join(scene_rows) + "\n")
    ortho = str(data / "drone_orthomosaic" / "fotomap_small_2cm_epsg32633.tif")
    p = run(
        "crack_predict",
        crack_map_params(str(shipped), ortho, out, alpha_band=4, prefix="maize"),
    )
    project.addMapLayer(QgsRasterLayer(ortho, "Maize orthomosaic (no cracks)"))
    name = "Crack probability over maize (shipped EfficientNet-Lite0; unfamiliar chips masked)"
    lyr = QgsRasterLayer(p["OUTPUT"], name)
    lyr.loadNamedStyle(str(Path(p["OUTPUT"]).with_suffix(".qml")))
    project.addMapLayer(lyr)
    print("\nCrack classifiers, trained on UAV75 train/val photos, scored on the chips of its 15 held-out test photos")
    print("(value and 95 % bootstrap interval; split_test_auc = the training run's own photo-grouped test split):")
    print((out / "crack_comparison.csv").read_text())
    print("Crack maps of the held-out test scene against its pixel labels (227 px chips, stride 256):")
    print((out / "crack_scene_evaluation.csv").read_text())


if __name__ == "__main__":
    raise SystemExit(main())
