"""The tabular models (Random Forest, XGBoost-LR, GLM, GAM) saved as data that cannot run code.

Why not pickle/joblib: a model card is what colleagues e-mail each other, and unpickling a crafted
``.joblib`` runs any command it names, before our code sees a single number. This format is plain
arrays in a NumPy ``.npz`` read with ``allow_pickle=False`` (an object array is refused by NumPy
itself), one JSON header, and, for XGBoost, the booster in XGBoost's own JSON model format. The
loader builds the scikit-learn / XGBoost objects itself from those numbers, so the only classes
that can ever be made are the ones written below.

Format ``landslide_ai.tabular.v2`` (one ``.npz`` file):

* ``__meta__``: a unicode scalar holding JSON: ``{"format", "kind", "n_features", ...}`` (the
  parameters each kind needs, see the ``_save_*`` functions).
* ``rf``: per tree ``t{i}.nodes`` (scikit-learn's node table, a plain structured array of ints and
  floats) and ``t{i}.values`` (node class counts or fractions), plus ``classes``.
* ``glm``: ``lr.coef``, ``lr.intercept``, ``lr.classes``.
* ``gam``: per input column either nothing (entered linearly) or ``knots.{j}`` (the cubic B-spline
  base knots), then the ``lr.*`` arrays of the regression on the basis.
* ``xgb_lr``: ``xgb.json`` (UTF-8 bytes of XGBoost's JSON model), ``enc.{j}`` (the one-hot
  categories of each tree's leaf indices) and the ``lr.*`` arrays.

Why a documented schema and not skops: skops >= 0.13 needs numpy >= 1.25 (QGIS 3.22's Python has
1.24) and older skops pulled huggingface-hub; this module needs only numpy and scikit-learn, which
every QGIS Python that runs these models already has.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from ..raster.io import atomic_path

FORMAT = "landslide_ai.tabular.v2"
#: the file extension the trainers write (cards name ``<kind>.npz``)
SUFFIX = ".npz"
#: pickled models of versions <= 0.2; loading them is refused, :func:`convert_joblib` converts them
LEGACY_SUFFIX = ".joblib"


def save_tabular(model: Any, kind: str, path: str | Path) -> None:
    """Write ``model`` of ``kind`` (rf, glm, gam, xgb_lr) to ``path`` (atomically)."""
    savers = {"rf": _save_rf, "glm": _save_glm, "gam": _save_gam, "xgb_lr": _save_xgb_lr}
    if kind not in savers:
        raise ValueError(f"no tabular format for model kind {kind!r}")
    meta: dict[str, Any] = {"format": FORMAT, "kind": kind, "n_features": int(model_n_features(model, kind))}
    arrays: dict[str, np.ndarray] = {}
    savers[kind](model, meta, arrays)
    arrays["__meta__"] = np.array(json.dumps(meta))
    with atomic_path(path) as tmp:
        # np.savez adds ".npz" to names without it; write through an open file so the name is ours
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def load_tabular(path: str | Path, kind: str) -> Any:
    """The model in ``path``, refused unless it is a ``kind`` model in this format.

    Every failure is a :class:`ModelLoadError` that names the file and what to do.
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        hint = (
            " It looks like a pickled model of Landslide AI <= 0.2: convert its card once with Processing "
            "'Convert an old model card (.joblib)' or `python -m core convert-model CARD.json NEW_FOLDER` "
            "(they refuse anything but the expected model types)."
            if _looks_pickled(p)
            else ""
        )
        raise ModelLoadError(
            f"The model file {p} is not a readable Landslide AI model ({type(exc).__name__}): it is corrupt, "
            f"truncated or not a model file.{hint} Use the file saved with the card, or retrain."
        ) from exc
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError("missing or unknown format header")
    except (KeyError, ValueError) as exc:
        raise ModelLoadError(
            f"The model file {p} has no valid '{FORMAT}' header ({exc}): use the file saved with the card, or retrain."
        ) from exc
    if meta.get("kind") != kind:
        raise ModelLoadError(
            f"The model file {p} holds a '{meta.get('kind')}' model but its card says '{kind}': the card points at "
            "another model's file. Use the card saved with that file."
        )
    loaders = {"rf": _load_rf, "glm": _load_glm, "gam": _load_gam, "xgb_lr": _load_xgb_lr}
    try:
        return loaders[kind](meta, arrays)
    except ModelLoadError:
        raise
    except Exception as exc:  # shapes or values that do not fit the schema
        raise ModelLoadError(
            f"The model file {p} does not hold a valid {kind} model ({type(exc).__name__}: {exc}): it was edited or "
            "is corrupt. Use the file saved with the card, or retrain."
        ) from exc


def model_n_features(model: Any, kind: str) -> int:
    """Number of input factors of a fitted tabular model."""
    if kind == "xgb_lr":
        return int(model.xgb.n_features_in_)
    return int(model.n_features_in_)


def _looks_pickled(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            return f.read(1) == b"\x80"  # pickle protocol >= 2 opcode
    except OSError:
        return False


# ----------------------------------------------------------------------------- logistic regression


def _put_lr(lr: Any, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    arrays["lr.coef"] = np.asarray(lr.coef_, dtype=np.float64)
    arrays["lr.intercept"] = np.asarray(lr.intercept_, dtype=np.float64)
    arrays["lr.classes"] = np.asarray(lr.classes_).astype(np.int64)
    meta["lr"] = {"C": float(lr.C), "max_iter": int(lr.max_iter)}


def _get_lr(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    from sklearn.linear_model import LogisticRegression

    coef = _float(arrays["lr.coef"], "lr.coef", ndim=2)
    intercept = _float(arrays["lr.intercept"], "lr.intercept", ndim=1)
    classes = _classes(arrays["lr.classes"])
    if coef.shape[0] != 1 or intercept.shape != (1,):
        raise ValueError("a binary logistic regression has one row of coefficients and one intercept")
    lr = LogisticRegression(C=float(meta["lr"]["C"]), max_iter=int(meta["lr"]["max_iter"]))
    lr.coef_, lr.intercept_, lr.classes_ = coef, intercept, classes
    lr.n_features_in_ = coef.shape[1]
    lr.n_iter_ = np.array([0], dtype=np.int32)
    return lr


def _float(a: np.ndarray, name: str, ndim: int) -> np.ndarray:
    if a.dtype.kind != "f" or a.ndim != ndim or not np.all(np.isfinite(a)):
        raise ValueError(f"'{name}' must be a finite {ndim}-d float array")
    return a.astype(np.float64)


def _classes(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind not in "iu" or a.tolist() != [0, 1]:
        raise ValueError("the classes must be [0, 1] (absence, landslide)")
    return a.astype(np.int64)


# ----------------------------------------------------------------------------- GLM and GAM


def _save_glm(model: Any, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    _put_lr(model.steps[-1][1] if hasattr(model, "steps") else model, arrays, meta)


def _load_glm(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    lr = _get_lr(meta, arrays)
    if lr.n_features_in_ != int(meta["n_features"]):
        raise ValueError("the coefficients do not match the number of factors")
    return lr


def _save_gam(model: Any, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    basis, lr = model.steps[0][1], model.steps[-1][1]
    columns: list[str] = []
    for name, tr, cols in basis.transformers_:
        if name == "remainder":
            continue
        (j,) = cols
        if name.startswith("spline_"):
            t = np.asarray(tr.bsplines_[0].t, dtype=np.float64)
            deg = int(tr.degree)
            arrays[f"knots.{j}"] = t[deg:-deg]  # the base knots; fit() rebuilds the padded vector from them
            columns.append("spline")
        else:
            columns.append("linear")
    meta["columns"] = columns
    meta["degree"] = 3
    _put_lr(lr, arrays, meta)


def _load_gam(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import SplineTransformer

    columns = list(meta["columns"])
    n = int(meta["n_features"])
    if len(columns) != n or any(c not in ("spline", "linear") for c in columns):
        raise ValueError("one 'spline' or 'linear' entry per factor expected")
    parts: list[tuple[str, Any, list[int]]] = []
    for j, c in enumerate(columns):
        if c == "linear":
            parts.append((f"linear_{j}", "passthrough", [j]))
            continue
        knots = _float(arrays[f"knots.{j}"], f"knots.{j}", ndim=1)
        if knots.size < 2 or np.any(np.diff(knots) <= 0):
            raise ValueError(f"the knots of factor {j} must be at least 2 increasing numbers")
        st = SplineTransformer(n_knots=knots.size, degree=int(meta["degree"]), knots=knots[:, None])
        parts.append((f"spline_{j}", st, [j]))
    basis = ColumnTransformer(parts)
    # with explicit knots the fit only learns the column count: the basis is the saved one exactly
    basis.fit(np.zeros((2, n)))
    lr = _get_lr(meta, arrays)
    if lr.n_features_in_ != basis.transform(np.zeros((1, n))).shape[1]:
        raise ValueError("the coefficients do not match the spline basis")
    pipe = Pipeline([("columntransformer", basis), ("logisticregression", lr)])
    return pipe


# ----------------------------------------------------------------------------- Random Forest


def _save_rf(model: Any, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    meta["n_trees"] = len(model.estimators_)
    meta["params"] = {"min_samples_leaf": int(model.min_samples_leaf), "random_state": model.random_state}
    arrays["classes"] = np.asarray(model.classes_).astype(np.int64)
    for i, est in enumerate(model.estimators_):
        state = est.tree_.__getstate__()
        arrays[f"t{i}.nodes"] = np.asarray(state["nodes"])
        arrays[f"t{i}.values"] = np.asarray(state["values"], dtype=np.float64)


def _load_rf(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.tree._tree import Tree

    n = int(meta["n_features"])
    classes = _classes(arrays["classes"])
    n_trees = int(meta["n_trees"])
    if n < 1 or n_trees < 1:
        raise ValueError("a forest needs at least one factor and one tree")
    params = meta.get("params", {})
    rf = RandomForestClassifier(n_estimators=n_trees, min_samples_leaf=int(params.get("min_samples_leaf", 1)))
    estimators = []
    for i in range(n_trees):
        nodes = _nodes(arrays[f"t{i}.nodes"], n)
        values = _float(arrays[f"t{i}.values"], f"t{i}.values", ndim=3)
        if values.shape != (nodes.size, 1, 2) or np.any(values < 0) or np.any(values.sum(axis=-1) <= 0):
            raise ValueError(f"tree {i}: one row of 2 non-negative class values per node expected")
        # class fractions per node: scikit-learn <= 1.3 stores counts and normalises in predict_proba,
        # >= 1.4 stores fractions and does not; fractions are right for both (measured: a forest saved
        # with 1.2 and loaded with 1.4 gave "probabilities" up to 30 before this)
        values = values / values.sum(axis=-1, keepdims=True)
        tree = Tree(n, np.array([2], dtype=np.intp), 1)
        tree.__setstate__({"max_depth": _depth(nodes), "node_count": nodes.size, "nodes": nodes, "values": values})
        est = DecisionTreeClassifier(min_samples_leaf=rf.min_samples_leaf)
        est.tree_, est.classes_, est.n_classes_ = tree, classes, 2
        est.n_outputs_, est.n_features_in_, est.max_features_ = 1, n, n
        estimators.append(est)
    rf.estimators_ = estimators
    rf.classes_, rf.n_classes_, rf.n_outputs_, rf.n_features_in_ = classes, 2, 1, n
    return rf


def _nodes(a: np.ndarray, n_features: int) -> np.ndarray:
    """The node table in this scikit-learn's layout, checked so that no index points outside it.

    Why the copy field by field: scikit-learn 1.3 added ``missing_go_to_left``; a forest saved with
    1.2 (QGIS 3.22) then loads in a newer QGIS, with that field 0 (no missing values were seen).
    """
    from sklearn.tree._tree import NODE_DTYPE

    if a.dtype.names is None or a.ndim != 1 or a.size < 1:
        raise ValueError("the node table must be a 1-d structured array")
    out = np.zeros(a.size, dtype=NODE_DTYPE)
    for f in NODE_DTYPE.names:
        if f in a.dtype.names:
            out[f] = a[f]
        elif f != "missing_go_to_left":
            raise ValueError(f"the node table lacks '{f}'")
    left, right, feat = out["left_child"], out["right_child"], out["feature"]
    leaf = left == -1
    inner = ~leaf
    idx = np.arange(a.size)
    if (
        np.any(right[leaf] != -1)
        or np.any((left[inner] <= idx[inner]) | (left[inner] >= a.size))
        or np.any((right[inner] <= idx[inner]) | (right[inner] >= a.size))
        or np.any((feat[inner] < 0) | (feat[inner] >= n_features))
        or not np.all(np.isfinite(out["threshold"][inner]))
    ):
        raise ValueError("the node table has child or factor indices out of range")
    return out


def _depth(nodes: np.ndarray) -> int:
    depth = np.zeros(nodes.size, dtype=np.int64)
    for i in range(nodes.size):  # children always come after their parent (checked in _nodes)
        if nodes["left_child"][i] != -1:
            depth[nodes["left_child"][i]] = depth[nodes["right_child"][i]] = depth[i] + 1
    return int(depth.max())


# ----------------------------------------------------------------------------- XGBoost + LR


def _save_xgb_lr(model: Any, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    raw = model.xgb.get_booster().save_raw(raw_format="json")
    arrays["xgb.json"] = np.frombuffer(bytes(raw), dtype=np.uint8)
    meta["xgb_params"] = dict(model.params)
    meta["holdout"], meta["seed"] = float(model.holdout), int(model.seed)
    cats = model.enc.categories_
    meta["n_trees"] = len(cats)
    for j, c in enumerate(cats):
        arrays[f"enc.{j}"] = np.asarray(c, dtype=np.float64)
    _put_lr(model.lr, arrays, meta)


def _load_xgb_lr(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    from sklearn.preprocessing import OneHotEncoder
    from xgboost import XGBClassifier

    from .models import XGBoostLR

    raw = arrays["xgb.json"]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError("'xgb.json' must be the bytes of XGBoost's JSON model")
    json.loads(raw.tobytes().decode("utf-8"))  # JSON text only: never a binary or pickled booster
    params = {k: meta["xgb_params"][k] for k in ("n_estimators", "max_depth", "learning_rate")}
    model = XGBoostLR(**params, holdout=float(meta["holdout"]), seed=int(meta["seed"]))
    model.xgb = XGBClassifier(**params, random_state=model.seed, n_jobs=2, eval_metric="logloss")
    model.xgb.load_model(bytearray(raw.tobytes()))
    if int(model.xgb.n_features_in_) != int(meta["n_features"]):
        raise ValueError("the booster does not match the number of factors")
    cats = [_float(arrays[f"enc.{j}"], f"enc.{j}", ndim=1) for j in range(int(meta["n_trees"]))]
    model.enc = OneHotEncoder(categories=cats, handle_unknown="ignore")
    model.enc.fit(np.array([[c[0] for c in cats]]))
    model.lr = _get_lr(meta, arrays)
    if model.lr.n_features_in_ != sum(c.size for c in cats):
        raise ValueError("the regression does not match the one-hot leaf encoding")
    return model


# ----------------------------------------------------------------------------- converter


#: the only globals a Landslide AI <= 0.2 ``.joblib`` may name (module, name); anything else —
#: ``os.system``, ``builtins.eval``, ``subprocess.Popen``, ``builtins.getattr`` — is refused unloaded
_PICKLE_ALLOWED = {
    ("builtins", "bytearray"),
    ("builtins", "slice"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy", "float64"),
    ("numpy", "int64"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("scipy.interpolate._bsplines", "BSpline"),
    ("sklearn.compose._column_transformer", "ColumnTransformer"),
    ("sklearn.ensemble._forest", "RandomForestClassifier"),
    ("sklearn.linear_model._logistic", "LogisticRegression"),
    ("sklearn.pipeline", "Pipeline"),
    ("sklearn.preprocessing._encoders", "OneHotEncoder"),
    ("sklearn.preprocessing._function_transformer", "FunctionTransformer"),
    ("sklearn.preprocessing._polynomial", "SplineTransformer"),
    ("sklearn.tree._classes", "DecisionTreeClassifier"),
    ("sklearn.tree._tree", "Tree"),
    ("xgboost.core", "Booster"),
    ("xgboost.sklearn", "XGBClassifier"),
}


def read_legacy_joblib(path: str | Path) -> Any:
    """Unpickle a ``.joblib`` model of Landslide AI <= 0.2, refusing any global outside the allow-list.

    Why this is safe where ``joblib.load`` is not: a pickle can only call what it first looks up
    with ``find_class``; every lookup is checked against :data:`_PICKLE_ALLOWED` (model classes
    and array reconstruction, none of which runs a command) before anything is imported.
    """
    from joblib.numpy_pickle import NumpyUnpickler

    class _Restricted(NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) not in _PICKLE_ALLOWED:
                raise ModelLoadError(
                    f"{path} names '{module}.{name}', which no Landslide AI model contains: it was not saved by "
                    "Landslide AI, or it was tampered with. It was not loaded; do not use it."
                )
            return super().find_class(module, name)

    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head[:1] != b"\x80":
            raise ModelLoadError(f"{p} is not an uncompressed joblib pickle of Landslide AI <= 0.2.")
        import inspect

        # joblib >= 1.5 (QGIS 3.44 on Debian sid) takes ensure_native_byte_order; its load() passes True
        # when nothing is memory-mapped, as here
        native = "ensure_native_byte_order" in inspect.signature(NumpyUnpickler.__init__).parameters
        try:
            return _Restricted(str(p), f, **({"ensure_native_byte_order": True} if native else {})).load()
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"{p} is not a readable model ({type(exc).__name__}: {exc}).") from exc


def convert_joblib(card_path: str | Path, out_dir: str | Path) -> Path:
    """Convert a card's ``.joblib`` model into ``out_dir`` (new card + ``.npz``); returns the new card.

    The old card and ``.joblib`` are left untouched (inputs are never written). The pickle is read
    by :func:`read_legacy_joblib`, which refuses anything but the expected model types. Deep
    (``.pt``) cards need no conversion.
    """
    from ..model_card import SusceptibilityCard
    from .models import XGBoostLR

    card = SusceptibilityCard.load(card_path)
    if Path(card.weights_file).suffix != LEGACY_SUFFIX:
        raise ModelLoadError(f"{card_path} names {card.weights_file}, not a .joblib model: nothing to convert.")
    old = card.weights_path(card_path)
    kind = card.kind.value
    obj = read_legacy_joblib(old)
    if kind == "xgb_lr":
        state = obj.get("state") if isinstance(obj, dict) and obj.get("kind") == "xgboost_lr" else None
        if not isinstance(state, dict) or not {"params", "holdout", "seed", "xgb", "enc", "lr"} <= set(state):
            raise ModelLoadError(f"{old} holds a {type(obj).__name__}, not the XGBoost-LR its card names.")
        model: Any = XGBoostLR.__new__(XGBoostLR)
        model.__dict__.update({k: state[k] for k in ("params", "holdout", "seed", "xgb", "enc", "lr")})
    else:
        model = obj
    expected = {"rf": "RandomForestClassifier", "glm": "Pipeline", "gam": "Pipeline", "xgb_lr": "XGBoostLR"}
    if type(model).__name__ != expected[kind]:
        raise ModelLoadError(f"{old} holds a {type(model).__name__}, not the {card.kind.display} its card names.")
    out = Path(out_dir)
    new = out / f"{kind}{SUFFIX}"
    save_tabular(model, kind, new)
    load_tabular(new, kind)  # what was written reads back
    card.weights_file = new.name
    new_card = out / Path(card_path).with_suffix(".json").name
    card.save(new_card)
    return new_card
