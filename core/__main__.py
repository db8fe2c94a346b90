"""Headless command line over the same engine calls as the Processing algorithms.

Run from the repository root: ``python -m core <command> ...``. Useful on servers without QGIS
and for scripting; QGIS users get the same operations in the Processing toolbox.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .errors import LandslideAIError
from .outputs import OutputTransaction
from .progress import ConsoleProgress


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m core", description="Landslide AI engine (no QGIS needed).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("derive-terrain", help="slope, aspect, plan curvature, TWI from a DEM")
    t.add_argument("dem")
    t.add_argument("out_dir")
    s = sub.add_parser("stack", help="stack factors onto one grid")
    s.add_argument("output")
    s.add_argument("factors", nargs="+", help="NAME=PATH[:categorical]")
    s.add_argument("--resolution", type=_positive, default=30.0)
    c = sub.add_parser("cf-map", help="certainty-factor score and zoning")
    c.add_argument("stack")
    c.add_argument("inventory")
    c.add_argument("out_prefix")
    c.add_argument("--where", default=None, help="OGR filter, e.g. 'lslpts = 1'")
    a = sub.add_parser("sample", help="sample absences and split")
    a.add_argument("stack")
    a.add_argument("inventory")
    a.add_argument("output")
    a.add_argument("--strategy", choices=["buffer", "slope", "cf"], default="cf")
    a.add_argument("--cf-zoning")
    a.add_argument("--where", default=None)
    a.add_argument("--split", choices=["spatial_blocks", "random"], default="spatial_blocks")
    a.add_argument("--ratio", type=_positive, default=2.0, help="absences per landslide")
    a.add_argument("--buffer-m", type=_positive, default=1000.0, help="strategy buffer: exclusion distance")
    a.add_argument("--slope-max-deg", type=_positive, default=5.0, help="strategy slope: steepest absence cell")
    a.add_argument("--min-spacing-m", type=_finite, default=60.0, help="minimum distance between samples")
    a.add_argument("--block-size-m", type=_positive, default=1000.0, help="spatial block side of the split")
    a.add_argument("--seed", type=int, default=42)
    tr = sub.add_parser("train", help="train and compare models")
    tr.add_argument("stack")
    tr.add_argument("samples")
    tr.add_argument("out_dir")
    tr.add_argument("--models", default="cnn,lstm,cnn_lstm,cnn_lstm_am,rf,xgb_lr,glm,gam")
    tr.add_argument("--cv-folds", type=int, default=5, help="spatial cross-validation folds (0 = single split)")
    tr.add_argument("--cv-block-m", type=float, default=0.0, help="CV block side (0 = correlation length)")
    tr.add_argument("--cv-buffer-m", type=float, default=0.0)
    tr.add_argument("--cv-group-field", default=None, help="samples' mapping-unit field for the folds")
    tr.add_argument("--epochs", type=int, default=80)
    tr.add_argument("--patch-size", type=int, default=30)
    tr.add_argument("--temporal-mode", choices=["factor_sequence", "climate", "none"], default="factor_sequence")
    tr.add_argument("--temporal-stack")
    tr.add_argument("--search-trials", type=int, default=0)
    tr.add_argument("--class-weight", action="store_true", help="weight landslides by the sampling ratio")
    tr.add_argument("--augment", action="store_true", help="rotations/mirrors of patches, directions rotated")
    tr.add_argument("--ensemble", type=int, default=1, help="members (seeds) per deep model")
    tr.add_argument("--no-one-hot", action="store_true", help="standardise categorical codes instead")
    tr.add_argument(
        "--no-centre-skip", action="store_true", help="the paper's CNN: no direct input of the target cell's factors"
    )
    tr.add_argument(
        "--mapped-model",
        default="best_cv",
        help="the card printed last: best_cv (default), mean_top, or a model kind (e.g. cnn_lstm_am)",
    )
    tr.add_argument("--seed", type=int, default=42)
    p = sub.add_parser("predict", help="susceptibility map and zoning from a saved model")
    p.add_argument("model_card")
    p.add_argument("stack")
    p.add_argument("output")
    p.add_argument("zoning")
    p.add_argument(
        "--method",
        choices=["card", "quantile", "natural_breaks", "user"],
        default="card",
        help="zone breaks: the card's training-area quantiles (default), this run's quantiles, Jenks, or --thresholds",
    )
    p.add_argument("--thresholds", type=_numbers, default=None)
    p.add_argument("--temporal-stack")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--per-patch", action="store_true", help="push every patch through on its own (reference path)")
    p.add_argument(
        "--backend",
        choices=["torch", "onnx", "auto"],
        default="auto",
        help="deep-model runtime (auto, the default: ONNX Runtime if installed, else torch)",
    )
    p.add_argument("--dask", default=None, help="'local' (a local cluster) or a scheduler address tcp://host:8786")
    p.add_argument(
        "--allow-shift", action="store_true", help="accept factor distributions unlike training (extrapolation)"
    )
    e = sub.add_parser("evaluate", help="success/prediction-rate curves of any susceptibility raster")
    e.add_argument("raster")
    e.add_argument("inventory", help="landslide points (GPKG, SHP, ...)")
    e.add_argument("out_html")
    e.add_argument("--where", default=None, help="OGR filter, e.g. 'label = 1'")
    e.add_argument("--split-field", default=None, help="field whose value 'test' marks held-out landslides")
    e.add_argument("--curves-csv")
    e.add_argument("--zones-csv")
    ct = sub.add_parser("crack-train", help="train a crack classifier (optionally two-stage transfer learning)")
    ct.add_argument("target", help="folder with crack/ and no_crack/")
    ct.add_argument("out_dir")
    ct.add_argument("--source", help="folder to pretrain on (e.g. concrete cracks)")
    ct.add_argument("--init-card", help="crack model card to fine-tune")
    ct.add_argument("--hard-negatives", help="folder of crack-free images of the target imagery")
    ct.add_argument(
        "--arch",
        choices=["efficientnet_lite0", "cnn", "resnet50", "resnet50_se"],
        default="efficientnet_lite0",
        help="efficientnet_lite0: ImageNet-pretrained, frozen, head fitted in seconds (default); others: the paper's",
    )
    ct.add_argument(
        "--finetune-blocks", type=int, default=0, help="efficientnet_lite0: last stages to tune (0 = frozen)"
    )
    ct.add_argument("--epochs", type=int, default=30)
    ct.add_argument("--pretrain-epochs", type=int, default=None)
    ct.add_argument("--lr", type=float, default=1e-4)
    ct.add_argument("--input-px", type=int, default=227)
    ct.add_argument("--seed", type=int, default=42)
    ct.add_argument("--device", default="auto")
    au = sub.add_parser("aggregate-units", help="a susceptibility raster summarised and zoned per mapping unit")
    au.add_argument("raster")
    au.add_argument("units", help="polygon layer (slope units, catchments, parcels)")
    au.add_argument("output", help="GeoPackage of the units with ls_* fields")
    au.add_argument("--statistic", choices=["mean", "max", "p50", "p90"], default="mean", help="zoned statistic")
    au.add_argument("--inventory", help="landslide points, counted per unit")
    au.add_argument("--where", default=None, help="OGR filter on the inventory, e.g. 'lslpts = 1'")
    tl = sub.add_parser("crack-tile", help="chip index layer (and chip images for labelling) over an orthomosaic")
    tl.add_argument("orthomosaic")
    tl.add_argument("chips", help="chip index layer (GeoPackage)")
    tl.add_argument("--images", help="folder for the chips as PNG images")
    tl.add_argument("--chip-px", type=int, default=227)
    tl.add_argument("--stride-px", type=int, default=227)
    tl.add_argument("--alpha-band", type=int, default=-1, help="-1 = the declared alpha band, 0 = none")
    cp = sub.add_parser("crack-predict", help="crack-probability raster and chip layer over an orthomosaic")
    cp.add_argument("orthomosaic")
    cp.add_argument("output", help="crack-probability GeoTIFF")
    cp.add_argument("chips", help="chip layer (GeoPackage)")
    cp.add_argument("--model-card", default=None, help="crack card (default: the shipped CNN)")
    cp.add_argument("--gradcam", help="Grad-CAM GeoTIFF")
    cp.add_argument("--chip-px", type=int, default=227)
    cp.add_argument("--stride-px", type=int, default=113)
    cp.add_argument("--alpha-band", type=int, default=-1, help="-1 = the declared alpha band, 0 = none")
    cp.add_argument("--keep-unfamiliar", action="store_true", help="keep chips unlike the training images")
    cp.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    cp.add_argument(
        "--backend",
        choices=["auto", "torch", "onnx"],
        default="auto",
        help="classifier runtime (auto: ONNX Runtime when installed and no Grad-CAM/bf16, 2-2.5x faster on CPU)",
    )
    cp.add_argument("--device", default="auto")
    cs = sub.add_parser("crack-evaluate-scene", help="score a chip layer against a pixel-label raster")
    cs.add_argument("chips")
    cs.add_argument("labels")
    cs.add_argument("out_html")
    cs.add_argument("--min-crack-px", type=int, default=150)
    cs.add_argument("--include-unfamiliar", action="store_true")
    cs.add_argument("--csv")
    ce = sub.add_parser("crack-evaluate", help="score a crack model card on labelled images")
    ce.add_argument("model_card")
    ce.add_argument("out_html")
    ce.add_argument("--images", help="folder with crack/ and no_crack/")
    ce.add_argument("--positives", help="folder of crack images")
    ce.add_argument("--negatives", help="folder of crack-free images")
    ce.add_argument("--csv", help="per-image scores")
    ce.add_argument("--gallery", help="folder for Grad-CAM PNGs of the worst mistakes")
    ce.add_argument("--threshold", type=float, default=0.5)
    ce.add_argument(
        "--mask-unfamiliar",
        action="store_true",
        help="headline figures with unfamiliar images scored 'no crack' (as the map); both settings are reported",
    )
    ce.add_argument("--keep-unfamiliar", action="store_true", help="(the default now; kept for old scripts)")
    ce.add_argument("--device", default="auto")
    ad = sub.add_parser("crack-adapt", help="adapt a pretrained crack model to labelled chips of one orthomosaic")
    ad.add_argument("ortho")
    ad.add_argument("chips", help="chip layer (crack-tile / crack-predict output) with a label field")
    ad.add_argument("out_dir", help="folder for the adapted card")
    ad.add_argument("chips_out", help="GeoPackage: the chips with adapted probability and 'suggest' rank")
    ad.add_argument("--model", default=None, help="base card (default: the shipped crack_lite0)")
    ad.add_argument("--label-field", default="label")
    ad.add_argument("--suggest", type=int, default=20)
    ad.add_argument("--alpha-band", type=int, default=-1)
    ex = sub.add_parser("export-onnx", help="a deep model card as an ONNX file with the card inside")
    ex.add_argument("model_card")
    ex.add_argument("output")
    ex.add_argument("--deepness", action="store_true", help="the Deepness plugin's format (crack models)")
    cv = sub.add_parser(
        "convert-model",
        help="convert a card's pickled .joblib model (Landslide AI <= 0.2) to the data-only format, refusing "
        "anything but the expected model types",
    )
    cv.add_argument("model_card")
    cv.add_argument("out_dir", help="folder for the converted card and model (the old ones are left untouched)")
    return ap


def _finite(text: str) -> float:
    """An argparse type: a finite number (``nan``/``inf`` are refused with the value named)."""
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return v


def _positive(text: str) -> float:
    """An argparse type: a finite number > 0."""
    v = _finite(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be greater than 0")
    return v


def _numbers(text: str) -> list[float]:
    """An argparse type: comma-separated finite numbers (e.g. zone thresholds ``0.2,0.4,0.6,0.8``)."""
    try:
        return [_finite(v.strip()) for v in text.split(",")]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.2,0.4,0.6,0.8: {exc}") from None


#: per command, the arguments naming output files and the one naming an output folder
_OUT_FILES = {
    "stack": ("output",),
    "sample": ("output",),
    "predict": ("output", "zoning"),
    "evaluate": ("out_html", "curves_csv", "zones_csv"),
    "crack-tile": ("chips",),
    "aggregate-units": ("output",),
    "crack-predict": ("output", "chips", "gradcam"),
    "crack-evaluate-scene": ("out_html", "csv"),
    "crack-evaluate": ("out_html", "csv"),
    "crack-adapt": ("chips_out",),
    "export-onnx": ("output",),
}
_OUT_DIRS = {
    "derive-terrain": "out_dir",
    "train": "out_dir",
    "crack-train": "out_dir",
    "crack-evaluate": "gallery",
    "crack-tile": "images",
    "convert-model": "out_dir",
    "crack-adapt": "out_dir",
}


def guard_outputs(args: argparse.Namespace) -> OutputTransaction:
    """Refuse, before any work, outputs that would overwrite an input (the checks of Processing runs).

    Why: the engine writes atomically, so an output path that names an input (``stack out.tif
    a=out.tif``) would silently replace the user's file with the result. Every argument naming an
    existing file or folder counts as an input.
    """
    import os

    tx = OutputTransaction()
    files = [(k, getattr(args, k, None)) for k in _OUT_FILES.get(args.cmd, ())]
    if args.cmd == "cf-map":
        files = [(f"out_prefix ({s})", f"{args.out_prefix}_{s}") for s in ("score.tif", "zoning.tif", "table.csv")]
        files.append(("out_prefix (table.html)", f"{args.out_prefix}_table.html"))
    folder = _OUT_DIRS.get(args.cmd)
    outs = {k for k, _ in files} | {folder}
    for k, v in vars(args).items():
        if k not in outs and isinstance(v, str) and os.path.exists(v):
            tx.add_input(v)
    for f in getattr(args, "factors", None) or []:
        tx.add_input(f.partition("=")[2].partition(":")[0])
    for k, v in files:
        if v:
            tx.add_file(k, v)
    if folder and getattr(args, folder, None):
        planned: list[str] = []
        if args.cmd == "derive-terrain":
            from .terrain.derive import TERRAIN_FACTORS

            planned = [f"{n}.tif" for n in TERRAIN_FACTORS]
        tx.add_folder(folder, getattr(args, folder), planned)
    tx.check()
    return tx


def _rollback(tx: object) -> None:
    """Remove the staged outputs of a failed run (nothing partial is left)."""
    if tx is not None:
        tx.rollback()  # type: ignore[attr-defined]


def _use_staged(args: argparse.Namespace, staged: dict[str, str]) -> None:
    """Point the command's output arguments at their staging paths.

    ``cf-map`` writes four files from one prefix: they all go to the first file's staging folder
    (the transaction publishes each file to the prefix's folder).
    """
    import os

    if args.cmd == "cf-map":
        first = staged[next(iter(staged))]
        args.out_prefix = os.path.join(os.path.dirname(first), os.path.basename(args.out_prefix))
        return
    for k, v in staged.items():
        if hasattr(args, k):
            setattr(args, k, v)


def _cmd_derive_terrain(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core derive-terrain``."""
    from .terrain.derive import derive_terrain

    for k, v in derive_terrain(args.dem, args.out_dir, prog).items():
        print(f"{k}: {v}")


def _cmd_stack(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core stack``."""
    from .raster.stack import FactorSpec, stack_factors

    specs = []
    for f in args.factors:
        name, _, rest = f.partition("=")
        path, _, kind = rest.partition(":")
        specs.append(FactorSpec(path, name, kind == "categorical"))
    rep = stack_factors(specs, args.output, resolution_m=args.resolution, progress=prog).report
    if rep:
        print(f"{args.output}: {rep.valid_cells} valid of {rep.total_cells} cells")


def _cmd_cf_map(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core cf-map``."""
    from .raster.grid import Grid
    from .sampling.certainty_factor import cf_map
    from .sampling.points import read_points

    pts = read_points(args.inventory, Grid.from_path(args.stack).crs_wkt, args.where)
    o = args.out_prefix
    res = cf_map(
        args.stack, pts, f"{o}_score.tif", f"{o}_zoning.tif", f"{o}_table.csv", f"{o}_table.html", progress=prog
    )
    print({k: round(v, 3) for k, v in res.weights.items()})


def _cmd_sample(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core sample``."""
    from .raster.grid import Grid
    from .sampling.absences import SamplingConfig, SplitMethod, Strategy, sample_absences, write_samples
    from .sampling.points import read_points

    wkt = Grid.from_path(args.stack).crs_wkt
    pts = read_points(args.inventory, wkt, args.where)
    scfg = SamplingConfig(
        strategy=Strategy(args.strategy),
        split=SplitMethod(args.split),
        ratio=args.ratio,
        buffer_m=args.buffer_m,
        slope_max_deg=args.slope_max_deg,
        min_spacing_m=args.min_spacing_m,
        block_size_m=args.block_size_m,
        seed=args.seed,
    )
    s = sample_absences(args.stack, pts, scfg, args.cf_zoning, progress=prog)
    write_samples(s, wkt, args.output, scfg.strategy.value)
    print(f"{args.output}: {int(s.label.sum())} landslides, {int((s.label == 0).sum())} absences")


def _cmd_train(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core train``."""
    from .susceptibility.comparison import run_training
    from .susceptibility.dataset import TemporalMode
    from .susceptibility.models import DeepHP
    from .susceptibility.train import TrainConfig

    cfg = TrainConfig(
        hp=DeepHP(centre_skip=not args.no_centre_skip),
        models=tuple(args.models.split(",")),
        epochs=args.epochs,
        patch_size=args.patch_size,
        temporal_mode=TemporalMode(args.temporal_mode),
        search_trials=args.search_trials,
        class_weight=args.class_weight,
        augment=args.augment,
        ensemble=args.ensemble,
        one_hot=not args.no_one_hot,
        seed=args.seed,
    )
    from .susceptibility.cross_validation import CVConfig

    cv = CVConfig(args.cv_folds, args.cv_block_m, args.cv_buffer_m) if args.cv_folds >= 2 else None
    out = run_training(
        args.stack,
        args.samples,
        args.out_dir,
        cfg,
        args.temporal_stack,
        prog,
        cv=cv,
        group_field=args.cv_group_field,
        mapped=args.mapped_model,
    )
    if out.cv is not None:
        print(open(f"{args.out_dir}/cv_comparison.csv").read())
    print(open(out.table_csv).read())
    print(out.mapping_note)
    print(f"model card to map: {out.mapped_card}")


def _cmd_evaluate(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core evaluate``."""
    import numpy as np
    import rasterio

    from .sampling.points import read_points
    from .susceptibility.map_evaluation import LandslideSet, evaluate_map

    with rasterio.open(args.raster) as ds:
        wkt = ds.crs.to_wkt()
    pts = read_points(args.inventory, wkt, args.where)
    sets = [LandslideSet("all landslides", pts)]
    from .susceptibility.provenance import fit_on_all_samples

    if args.split_field and fit_on_all_samples(args.raster):  # as lsm_evaluate: 'test' rows trained it
        print(
            f"Warning: this map's model was refit on all samples after cross-validation, so the landslides with "
            f"{args.split_field} = 'test' trained it too: they are not held out; the figures are success rates."
        )
        args.split_field = None
    if args.split_field:
        from .errors import InvalidInputError

        if args.split_field not in pts.attrs:
            raise InvalidInputError(
                f"The inventory has no field '{args.split_field}'; its fields are {sorted(pts.attrs)}."
            )
        held = np.char.lower(np.char.strip(np.asarray(pts.attrs[args.split_field]).astype(str))) == "test"
        if not held.any():
            raise InvalidInputError(
                f"No landslide has {args.split_field} = 'test': nothing is held out. Give the field that marks "
                "held-out landslides with 'test', or leave --split-field out."
            )
        sets = [LandslideSet("held out (split = test)", pts.subset(held), held_out=True),
                LandslideSet("training (split != test)", pts.subset(~held))]  # fmt: skip
    evaluation = evaluate_map(args.raster, sets, args.out_html, args.curves_csv, args.zones_csv, progress=prog)
    for r in evaluation.sets:
        c = r.curve
        print(f"{c.name}: AUC {c.auc:.3f} (95 % CI {c.auc_ci[0]:.3f}-{c.auc_ci[1]:.3f}), {c.note}")


def _cmd_crack_train(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core crack-train``."""
    from .cracks.train import CrackTrainConfig, train_crack_model, write_metrics_page

    ccfg = CrackTrainConfig(
        arch=args.arch,
        epochs=args.epochs,
        pretrain_epochs=args.pretrain_epochs,
        lr=args.lr,
        input_px=args.input_px,
        seed=args.seed,
        device=args.device,
        finetune_blocks=args.finetune_blocks,
    )
    card, m = train_crack_model(
        args.target,
        args.out_dir,
        ccfg,
        args.source,
        prog,
        init_card=args.init_card,
        hard_negatives=args.hard_negatives,
    )
    print(card)
    print(write_metrics_page(card, ccfg.arch, m))  # the same metrics page as Processing writes
    print({k: round(v, 3) for k, v in m.items() if isinstance(v, float)})


def _cmd_aggregate_units(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core aggregate-units``."""
    from .raster.units import aggregate_units_file

    breaks = aggregate_units_file(
        args.raster, args.units, args.output, args.statistic, args.inventory, args.where, prog
    )
    print(f"{args.output}: unit zone breaks ({args.statistic}) " + ", ".join(f"{b:.4f}" for b in breaks))


def _cmd_crack_tile(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core crack-tile``."""
    from .cracks.chips import ChipSpec, tile_orthomosaic

    spec = ChipSpec(chip_px=args.chip_px, stride_px=args.stride_px, alpha_band=args.alpha_band)
    tiles = tile_orthomosaic(args.orthomosaic, spec, args.chips, args.images, prog)
    print(f"{len(tiles)} chips; {args.chips}" + (f", images in {args.images}" if args.images else ""))


def _cmd_crack_predict(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core crack-predict``."""
    from .cracks.chips import ChipSpec
    from .cracks.config import SHIPPED_CARD
    from .cracks.predict import map_cracks

    spec = ChipSpec(chip_px=args.chip_px, stride_px=args.stride_px, alpha_band=args.alpha_band)
    run = map_cracks(
        args.model_card or str(SHIPPED_CARD),
        args.orthomosaic,
        args.output,
        args.chips,
        spec,
        args.gradcam,
        device=args.device,
        progress=prog,
        mask_unfamiliar=not args.keep_unfamiliar,
        precision=args.precision,
        backend=args.backend,
    )
    for note in run.notes:
        print(note)
    odd = sum(c.unfamiliar for c in run.chips)
    print(f"{len(run.chips)} chips, {odd} unfamiliar; {args.output}, {run.chip_layer}")


def _print_metrics(metrics: dict, intervals: dict) -> None:
    """One line per metric with its 95 % interval (the crack evaluations' figures)."""
    for metric, value in metrics.items():
        print(f"{metric}: {value:.3f} (95 % CI {intervals[metric][0]:.3f}-{intervals[metric][1]:.3f})")


def _cmd_crack_evaluate_scene(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core crack-evaluate-scene``."""
    from .cracks.evaluate_scene import evaluate_scene

    sc = evaluate_scene(
        args.chips, args.labels, args.out_html, args.min_crack_px, args.include_unfamiliar, out_csv=args.csv
    )
    print(f"{sc.n_chips} chips ({sc.n_ambiguous} ambiguous, {sc.n_unfamiliar} unfamiliar left out)")
    _print_metrics(sc.metrics, sc.intervals)


def _cmd_crack_evaluate(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core crack-evaluate``."""
    from .cracks.evaluate import evaluate_images, unfamiliar_notes

    ev = evaluate_images(
        args.model_card,
        args.out_html,
        args.images,
        args.positives,
        args.negatives,
        args.csv,
        args.gallery,
        threshold=args.threshold,
        device=args.device,
        progress=prog,
        mask_unfamiliar=args.mask_unfamiliar,
    )
    for note in unfamiliar_notes(ev.labels, ev.unfamiliar, args.mask_unfamiliar):
        print(note)
    if ev.masked_hits:
        print(f"warning: the unfamiliar mask turns {ev.masked_hits} crack image(s) the model called crack into misses")
    print(("masked" if args.mask_unfamiliar else "raw") + " figures:")
    _print_metrics(ev.metrics, ev.intervals)
    print(
        ("raw" if args.mask_unfamiliar else "masked")
        + " figures: "
        + ", ".join(f"{k} {v:.3f}" for k, v in ev.other.items())
    )


def _cmd_crack_adapt(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core crack-adapt``."""
    from .cracks.adapt import adapt_crack_model
    from .cracks.config import SHIPPED_CARD

    ad = adapt_crack_model(
        args.model or str(SHIPPED_CARD),
        args.ortho,
        args.chips,
        args.label_field,
        args.out_dir,
        args.chips_out,
        n_suggest=args.suggest,
        alpha_band=args.alpha_band,
        progress=prog,
    )
    acv = ad.cv
    print(f"labels: {ad.n_labels['crack']} crack, {ad.n_labels['no_crack']} crack-free")
    print(f"adapted, grouped CV ROC AUC: {acv['roc_auc']:.3f} (95 % CI {acv['ci'][0]:.3f}-{acv['ci'][1]:.3f})")
    print(f"base model on the same chips: {acv['base_roc_auc_same_chips']:.3f}")
    print(f"head fit: {ad.seconds_fit:.3f} s; features {'cached' if ad.cached else 'computed'}")
    for note in ad.notes:
        print("warning: " + note)
    print(f"{ad.card}; {ad.chips_out} ({len(ad.suggestions)} chips suggested)")


def _cmd_export_onnx(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core export-onnx``."""
    from .onnx_models import export_onnx

    kind = export_onnx(args.model_card, args.output, deepness=args.deepness)
    print(f"{args.output}: '{kind}' graph, model card inside")


def _cmd_predict(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core predict``."""
    from .susceptibility.predict import predict_and_zone

    user = args.thresholds
    b = predict_and_zone(
        args.model_card,
        args.stack,
        args.output,
        args.zoning,
        args.method,
        user,
        args.temporal_stack,
        device=args.device,
        progress=prog,
        allow_shift=args.allow_shift,
        dense=not args.per_patch,
        backend=args.backend,
        dask=args.dask,
    )
    print("zone breaks:", ", ".join(f"{x:.4f}" for x in b))


def _cmd_convert_model(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """``python -m core convert-model``."""
    from .susceptibility.tabular_io import convert_joblib

    new = convert_joblib(args.model_card, args.out_dir)
    print(f"{new}: the converted card (its model is data only); the old card and .joblib are unchanged")


#: one function per command (the parser's sub-commands), the engine calls Processing makes too
COMMANDS: dict[str, Callable[[argparse.Namespace, ConsoleProgress], None]] = {
    "derive-terrain": _cmd_derive_terrain,
    "stack": _cmd_stack,
    "cf-map": _cmd_cf_map,
    "sample": _cmd_sample,
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "crack-train": _cmd_crack_train,
    "aggregate-units": _cmd_aggregate_units,
    "crack-tile": _cmd_crack_tile,
    "crack-predict": _cmd_crack_predict,
    "crack-evaluate-scene": _cmd_crack_evaluate_scene,
    "crack-evaluate": _cmd_crack_evaluate,
    "crack-adapt": _cmd_crack_adapt,
    "export-onnx": _cmd_export_onnx,
    "predict": _cmd_predict,
    "convert-model": _cmd_convert_model,
}


def _run(args: argparse.Namespace, prog: ConsoleProgress) -> None:
    """Run the command ``args.cmd`` (its function in :data:`COMMANDS`)."""
    COMMANDS[args.cmd](args, prog)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns a process exit code (2 for invalid input, 1 for a defect).

    Outputs are staged and published together, as in Processing: a failed, interrupted or killed
    run leaves no partial output (and the next run into the same folder removes a killed run's
    staging). What a command prints names the published paths.
    """
    import contextlib
    import io

    args = _parser().parse_args(argv)
    prog = ConsoleProgress()
    tx = None
    try:
        tx = guard_outputs(args)
        _use_staged(args, tx.stage())
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            _run(args, prog)
        tx.commit()
        sys.stdout.write(tx.published_text(buf.getvalue()))
    except LandslideAIError as exc:
        _rollback(tx)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        from .outputs import describe_os_error

        _rollback(tx)
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _rollback(tx)
        print("error: interrupted; partial outputs were removed", file=sys.stderr)
        return 130
    except Exception as exc:  # a defect, not a bad input: one line, the traceback on request
        import os

        _rollback(tx)
        if os.environ.get("LANDSLIDEAI_DEBUG"):
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc}. This is a defect in Landslide AI; rerun with "
            "LANDSLIDEAI_DEBUG=1 for the traceback and report it.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
