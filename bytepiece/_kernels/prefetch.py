"""Compile, in a second process, the kernels a first run needs later, while this
process does the work before them.

On an empty numba cache a command compiles its kernels one after the other as it
reaches them, about a second each, on one core. ``ahead`` hands the kernels a
command needs later to a child process that compiles them into the cache
meanwhile, on another core: the slowest ones first (``precompile.SLOWEST``: the
command would reach them while the child had little left to do, and compile them
alone), then the others from the last. A command that needs a slow kernel soon
after its first ones (encode: the segmentation after the model's automaton)
compiles that one itself at once, and the child the others in order; when that
kernel is surely not in the cache, the child is started before this process
imports numba (the two imports then overlap). A lock file per kernel decides who
compiles it:

- the child takes a kernel's lock before compiling it, and skips a kernel whose
  lock this process holds;
- this process takes a kernel's lock when it first needs the kernel (numba then
  looks in its cache): it waits while the child is compiling that kernel, then
  loads it from the cache; a kernel the child has not started, it compiles itself.

Nothing changes in what runs: a kernel comes from numba's cache or from numba's
compiler either way. With a warm cache no child is started.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading

from .precompile import SLOWEST, dispatcher, numba_types, signatures_of

try:
    import fcntl
except ImportError:  # no flock: no prefetching, every kernel compiles where it is needed
    fcntl = None


def ahead(kernels: list[str], model: str | None = None, first: str | None = None
          ) -> "Prefetch | None":
    """Start compiling those of ``kernels`` (in the order a run needs them) that are not
    in numba's cache; None when there is nothing to compile. ``model``: the model file
    whose candidate types the encoding kernels take. ``first``: a kernel this process
    compiles before returning, while the child compiles the others in order (for a
    slow kernel that a command needs soon after its first ones).

    When ``first`` is surely not in the cache (``_surely_missing``, which needs no
    numba), the child starts before this process imports numba, so that the two
    imports overlap; it is given every kernel, and loads those the cache has."""
    if fcntl is None or os.environ.get("NUMBA_DISABLE_JIT") == "1":
        return None
    if first is not None and _surely_missing(first):
        # the child starts before the model is read and numba (and numpy) imported here,
        # with the kernels other than ``first`` that take no model types (any others
        # are compiled where they are needed)
        prefetch = Prefetch(signatures_of([k for k in kernels if k != first]), first).start()
        try:
            args = dict(signatures_of([first], _pieces(model))).get(first)
            if all(_in_cache(kernel) for kernel in kernels):  # somewhere else after all
                prefetch.stop()
                return None
            if args is not None:
                dispatcher(first).compile(numba_types(args))
        except BaseException:
            prefetch.stop()
            raise
        return prefetch
    missing = [kernel for kernel in kernels if not _in_cache(kernel)]
    if not missing:
        return None
    missing = signatures_of(missing, _pieces(model))
    if not missing:
        return None
    args = dict(missing).get(first)
    prefetch = Prefetch(missing, first if args is not None else None).start()
    if args is not None:
        try:
            dispatcher(first).compile(numba_types(args))
        except BaseException:
            prefetch.stop()
            raise
    return prefetch


def _pieces(model: str | None) -> list[bytes] | None:
    """The pieces of the model file ``model`` (None without one, or if it does not load)."""
    if model is None:
        return None
    from ..errors import BytePieceError
    from ..model import Model

    try:
        return Model.load(model).pieces
    except BytePieceError:
        return None  # loading it for the run says what is wrong


class Prefetch:
    """The child process compiling kernels, and this process's side of the locks."""

    def __init__(self, kernels: list[tuple[str, str]], first: str | None = None):
        self.folder = tempfile.mkdtemp(prefix="bytepiece-compile-")
        self.kernels = kernels
        self.first = first
        self.held = {}  # kernel -> this process's lock file, open until ``stop``
        self.mutex = threading.RLock()
        self.patched = []
        self.child = None

    def start(self) -> "Prefetch":
        """Start the child. It compiles the kernels other than ``first`` in order when this
        process begins with ``first``; else the slowest ones (``SLOWEST``) first, then the
        others from the last (this process starts with the first). Then make this
        process's first loads of the kernels wait on the child (which imports numba here,
        if it was not yet, while the child starts)."""
        if self.first is not None:
            self._take(self.first)  # before the child can
            later = [item for item in self.kernels if item[0] != self.first]
        else:
            later = sorted(reversed(self.kernels), key=lambda item: item[0] not in SLOWEST)
        specs = [f"{kernel}={args}" for kernel, args in later]
        self.child = subprocess.Popen(
            [sys.executable, "-m", "bytepiece._kernels.prefetch", self.folder, *specs],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        for kernel, _ in self.kernels:
            self._wait_on_first_load(kernel)
        return self

    def _wait_on_first_load(self, kernel: str) -> None:
        """Make the kernel's first cache lookup take its lock first (see the module)."""
        function = dispatcher(kernel)
        cache = function._cache
        prefetch = self

        class Waiting:
            def __getattr__(self, name):
                return getattr(cache, name)

            def load_overload(self, sig, target_context):
                function._cache = cache  # once is enough
                prefetch._take(kernel)
                return cache.load_overload(sig, target_context)

        function._cache = Waiting()
        self.patched.append((function, cache))

    def _take(self, kernel: str) -> None:
        """Hold ``kernel``'s lock until ``stop``. While the child compiles it, compile the
        next kernels that neither process has started, then wait for the child."""
        with self.mutex:
            if self.folder is None or kernel in self.held:
                return
            handle = self._lock(kernel, block=False)
            for other, args in self.kernels:
                if handle is not None:
                    break
                if other not in self.held and self._lock(other, block=False) is not None:
                    dispatcher(other).compile(numba_types(args))
                    handle = self._lock(kernel, block=False)
            if handle is None:
                self._lock(kernel, block=True)

    def _lock(self, kernel: str, block: bool):
        """``kernel``'s lock file, locked and kept in ``held``; None if the child has it."""
        handle = open(_lock_path(self.folder, kernel), "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.close()
            return None
        self.held[kernel] = handle
        return handle

    def stop(self) -> None:
        """End the child (a kernel it was compiling is simply not cached) and clean up."""
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()
            self.child.wait()
        for function, cache in self.patched:
            function._cache = cache
        with self.mutex:
            for handle in self.held.values():
                handle.close()
            self.held = {}
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> "Prefetch":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _lock_path(folder: str, kernel: str) -> str:
    return os.path.join(folder, f"{kernel}.lock")


def _in_cache(kernel: str) -> bool:
    """Whether numba's cache has an entry of ``kernel`` for its current source (True
    when there is no cache to fill)."""
    cache = dispatcher(kernel)._cache
    if not hasattr(cache, "_cache_file"):
        return True
    try:
        return bool(cache._cache_file._load_index())
    except Exception:  # an unreadable index: numba compiles, so we might as well
        return False


def _surely_missing(kernel: str) -> bool:
    """Whether numba's cache has no entry of ``kernel``, as far as can be told without
    importing numba: no index file of it in any folder numba may keep it in
    (``NUMBA_CACHE_DIR``, else ``__pycache__`` beside the module or the user-wide cache).
    False when in doubt; a wrong True costs only a child that loads the kernels."""
    module, _, function = kernel.partition(".")
    source = os.path.dirname(os.path.abspath(__file__))
    subpath = f"{os.path.basename(source)}_{hashlib.sha1(source.encode()).hexdigest()}"
    if os.environ.get("NUMBA_CACHE_DIR"):
        folders = [os.path.join(os.environ["NUMBA_CACHE_DIR"], subpath)]
    else:
        user = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        folders = [os.path.join(source, "__pycache__"), os.path.join(user, "numba", subpath),
                   os.path.join(os.path.expanduser("~/Library/Caches/numba"), subpath)]
    index = f"{module}.{function}-*.py{sys.version_info[0]}{sys.version_info[1]}*.nbi"
    try:
        return not any(glob.glob(os.path.join(glob.escape(folder), index))
                       for folder in folders)
    except Exception:  # noqa: BLE001 (a hint: any doubt means no)
        return False


def _compile(folder: str, specs: list[str]) -> None:
    """The child: compile each kernel whose lock is free, holding the lock meanwhile."""
    for spec in specs:
        kernel, _, args = spec.partition("=")
        with open(_lock_path(folder, kernel), "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # the parent has it
            dispatcher(kernel).compile(numba_types(args))


if __name__ == "__main__":
    _compile(sys.argv[1], sys.argv[2:])
