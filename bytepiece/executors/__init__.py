"""Engines that run training's and encoding's tasks on a cluster: Dask and Ray.

An engine is a thin adapter with four verbs; everything bytepiece-specific is in
the tasks (``bytepiece.training.distributed``, ``bytepiece.encode_shards``):

- ``submit(fn, *args, returns=1)``: run ``fn(*args)`` as a task; handles of other
  tasks' results among ``args`` are replaced by the results. ``returns > 1``:
  ``fn`` returns a tuple, and each item gets a handle of its own, so that a
  task downstream fetches only the item it needs;
- ``share(value)``: a handle of ``value`` sent once to every worker that needs it
  (a broadcast), not once per task;
- ``gather(handles)``: the results, on this machine; ``each_done(handles)``: the
  positions of the handles in the order their tasks finish;
- ``close()``.

Scheduling, retries of failed tasks (a worker that dies is replaced, and the
tasks whose results it held run again), moving results between machines and
spilling them to disk are the engine's.
"""

from __future__ import annotations

from ..errors import InputError


def connect(cluster):
    """An engine for ``cluster``: a ``dask.distributed.Client``, or a URL: ``tcp://HOST:PORT``
    or ``dask://HOST:PORT`` (a Dask scheduler), ``ray://HOST:PORT`` (Ray Client),
    ``ray:auto`` (the Ray cluster this machine belongs to, or the one this process
    already started)."""
    if hasattr(cluster, "submit") and hasattr(cluster, "scheduler_info"):
        from .dask import DaskEngine

        return DaskEngine(cluster, own=False)
    if not isinstance(cluster, str):
        raise InputError(f"cluster must be a dask.distributed.Client or a URL, "
                         f"not {type(cluster).__name__}")
    url = cluster.strip()
    if url.startswith(("tcp://", "tls://", "dask://")):
        from .dask import DaskEngine

        return DaskEngine.at(url.replace("dask://", "tcp://", 1))
    if url.startswith("ray://") or url in ("ray:auto", "ray"):
        from .ray import RayEngine

        return RayEngine.at(url)
    raise InputError(f"cluster {cluster!r}: expected tcp://HOST:PORT or dask://HOST:PORT "
                     f"(Dask), ray://HOST:PORT or ray:auto (Ray)")


def missing_engine(name: str, extra: str) -> InputError:
    return InputError(f"--cluster needs {name}: pip install 'bytepiece-numba[{extra}]'")
