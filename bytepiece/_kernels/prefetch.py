"""Compile, in a second process, the kernels a first run needs later, while this
process does the work before them.

On an empty numba cache a command compiles its kernels one after the other as it
reaches them, about a second each, on one core. ``ahead`` hands the kernels a
command needs later to a child process that compiles them into the cache
meanwhile, on another core: the slowest ones first (``precompile.SLOWEST``: the
command would reach them while the child had little left to do, and compile them
alone), then the others from the last. A command that needs a slow kernel soon
after its first ones (encode: the segmentation after the model's automaton)
compiles that one itself at once, and the child the others in order. A lock
file per kernel decides who compiles it:

- the child takes a kernel's lock before compiling it, and skips a kernel whose
  lock this process holds;
- this process takes a kernel's lock when it first needs the kernel (numba then
  looks in its cache): it waits while the child is compiling that kernel, then
  loads it from the cache; a kernel the child has not started, it compiles itself.

Nothing changes in what runs: a kernel comes from numba's cache or from numba's
compiler either way. With a warm cache no child is started.
"""

from __future__ import annotations

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
    slow kernel that a command needs soon after its first ones)."""
    if fcntl is None or os.environ.get("NUMBA_DISABLE_JIT") == "1":
        return None
    missing = [kernel for kernel in kernels if not _in_cache(kernel)]
    if not missing:
        return None
    pieces = None
    if model is not None:
        from ..errors import BytePieceError
        from ..model import Model

        try:
            pieces = Model.load(model).pieces
        except BytePieceError:
            pass  # loading it for the run says what is wrong
    missing = signatures_of(missing, pieces)
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
        for kernel, _ in kernels:
            self._wait_on_first_load(kernel)

    def start(self) -> "Prefetch":
        """Start the child. It compiles the kernels other than ``first`` in order when this
        process begins with ``first``; else the slowest ones (``SLOWEST``) first, then the
        others from the last (this process starts with the first)."""
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
