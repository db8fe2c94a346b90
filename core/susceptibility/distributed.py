"""Susceptibility prediction with windows as Dask tasks (``dask.distributed``), same raster as the local run.

Why: a national map is tens of thousands of windows that need nothing from each other; on a
cluster each worker can score its share. Design:

* a task is one window: the worker opens the stack itself (a path every worker can read: a shared
  or network file system, or object storage GDAL reads) and runs :func:`.predict.score_window`,
  the very function of the local loop, so the numbers are the same;
* each worker thread loads the model once (cached by card path and modification time; per thread,
  since torch modules are not safe to call from two threads at once: an LSTM re-flattens its
  weights on the first call, and two threads doing so raced in a test) and runs torch
  with the client's thread count, so a worker on the same kind of machine computes the same bits
  (oneDNN's kernels round differently with other thread counts: about 1e-7 apart);
* the client writes the windows into the output as they arrive (one writer, written to a
  temporary file and renamed), with at most ``2 x workers`` windows in flight, so the client's
  memory stays bounded by a few windows whatever the map size;
* ``scheduler=None`` starts a ``LocalCluster`` of ``workers`` worker *threads* in this process
  (torch releases the GIL, so they run in parallel) and shuts it down after. Threads, not
  processes: a process pool spawns ``sys.executable``, which inside the QGIS desktop is QGIS
  itself, and re-imports the caller's script; threads also share the loaded model. An address
  (``tcp://host:8786``) uses a running cluster (worker processes, anywhere) and leaves it up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rasterio.windows import Window

if TYPE_CHECKING:
    from .loaded import LoadedModel
    from .scoring import WindowJob


import os
import threading
from collections import deque

import rasterio

from ..errors import InvalidInputError, LandslideAIError, MissingDependencyError
from ..progress import NullProgress, Progress, check
from ..raster.io import FLOAT_NODATA, atomic_path
from .dataset import TemporalMode

_LOCAL = threading.local()  # one model cache per worker thread

#: seconds to wait for a scheduler address to answer (a refused connection is retried until then)
CONNECT_TIMEOUT_S = 20.0


def _worker_model(card_path: str) -> LoadedModel:
    """The loaded model of a card, once per worker thread (see the module docstring)."""
    from .loaded import load_model

    key = (card_path, os.path.getmtime(card_path))
    cache = getattr(_LOCAL, "models", None)
    if cache is None or key not in cache:
        _LOCAL.models = cache = {key: load_model(card_path)}
    return cache[key]


def window_task(
    card_path: str,
    stack: str,
    temporal_stack: str | None,
    nodata: float | None,
    win: Window,
    mode: TemporalMode,
    batch: int,
    device: str,
    dense: bool,
    threads: int,
) -> tuple[Window, np.ndarray]:
    """Score one window on a worker (a plain function: it must pickle by reference)."""
    from ..runtime import pick_device
    from .scoring import score_window

    model = _worker_model(card_path)
    if model.net is not None:  # torch only for deep models: a worker without torch maps tree models
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    dev = None
    if model.net is not None:
        dev = pick_device(device)
        model.net.to(dev)
    tds = rasterio.open(temporal_stack) if mode is TemporalMode.CLIMATE else None
    try:
        with rasterio.open(stack) as ds:
            return win, score_window(model, ds, tds, nodata, win, mode, batch, dev, dense, None)
    finally:
        if tds is not None:
            tds.close()


def predict_windows_dask(
    card_path: str,
    job: WindowJob,
    progress: Progress | None = None,
    scheduler: str | None = None,
    workers: int = 2,
) -> None:
    """Write the probability raster of :func:`.predict.predict_stack` with every window a Dask task."""
    try:
        from dask.distributed import Client, LocalCluster, wait
    except ImportError as exc:
        raise MissingDependencyError(
            "Prediction on Dask needs dask.distributed: pip install 'dask[distributed]'"
        ) from exc
    progress = progress or NullProgress()
    if scheduler is None and workers < 1:
        raise InvalidInputError(f"A local Dask cluster needs at least 1 worker, not {workers}.")
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=False, dashboard_address=":0")
    try:
        client = Client(cluster if cluster is not None else scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (ValueError, TypeError) as exc:  # not an address at all ("tcp//host", "host:port:x")
        if cluster is not None:
            cluster.close()
        raise InvalidInputError(
            f"{scheduler!r} is not a Dask scheduler address ({exc}): give it as tcp://HOST:PORT (e.g. "
            "tcp://10.0.0.5:8786), or 'local' for a cluster on this machine."
        ) from exc
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise InvalidInputError(
            f"Cannot reach the Dask scheduler {scheduler!r} ({exc}). Start it (dask scheduler / dask worker) or leave "
            "the address empty for a local cluster."
        ) from exc
    grid = job.info.grid
    prof = grid.profile(1, "float32", FLOAT_NODATA)
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        pending = deque(grid.windows(job.block))
        n = len(pending)
        done = 0
        try:
            import torch

            threads = torch.get_num_threads()
        except ImportError:  # tree models map without torch
            threads = 1
        args = (str(card_path), job.stack, job.temporal_stack, job.info.nodata)
        with atomic_path(job.out) as tmp, rasterio.open(tmp, "w", **prof) as dst:
            dst.update_tags(**job.tags)
            running: set = set()
            while pending or running:
                while pending and len(running) < 2 * n_workers:
                    win = pending.popleft()
                    task = (*args, win, job.mode, job.batch, job.device, job.dense, threads)
                    running.add(client.submit(window_task, *task, pure=False))
                finished, running = wait(running, return_when="FIRST_COMPLETED")
                for fut in finished:
                    try:
                        win, res = fut.result()  # a task's exception is raised here
                    except LandslideAIError:
                        raise
                    except Exception as exc:  # a worker's failure: name the worker side, not this machine
                        raise InvalidInputError(
                            f"A Dask worker failed to score a window ({type(exc).__name__}: {exc}). Workers read "
                            f"the model card ({card_path}) and the stack ({job.stack}) at the same paths as this "
                            "machine and need the same packages (torch for deep models): check both on the workers."
                        ) from exc
                    dst.write(res, 1, window=win)
                    done += 1
                    progress.report(done / n, f"window {done}/{n} (Dask)")
                try:
                    check(progress)
                except BaseException:
                    client.cancel(list(running))
                    raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
