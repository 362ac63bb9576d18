"""The training's temporary folder: spilled runs, a manifest of what is done, cleanup.

Every file in it is committed atomically, and the manifest is rewritten
(atomically) after each commit, naming the inputs, the parameters and, per
phase, its runs and how far through the texts they reach. A run killed outright
and started again with the same folder reads the manifest and goes on from
there; a changed input or parameter is refused, saying which.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile

from ..atomic import write_atomic
from ..errors import BytePieceError, InputError

MANIFEST = "manifest.json"
VERSION = 1
#: The folder inside ``tmp_dir`` that holds one training's files.
FOLDER = "bytepiece-train"


class TempDiskError(BytePieceError, OSError):
    """The temporary folder could not take a spilled run (full, or not writable)."""


class WorkDir:
    """A folder for one training's runs, with its manifest.

    ``tmp_dir`` None: a new folder under the system's temporary folder (no
    resume). Otherwise ``tmp_dir/bytepiece-train``, resumed when its manifest
    has the same ``params`` and ``inputs`` (inputs None: never resumed).
    """

    def __init__(self, tmp_dir: str | os.PathLike | None, params: dict, inputs: list | None):
        self.params = params
        self.inputs = inputs
        self._lock = None
        try:
            if tmp_dir is None:
                self.path = tempfile.mkdtemp(prefix="bytepiece-train-")
                self.state: dict = {}
            else:
                os.makedirs(tmp_dir, exist_ok=True)
                self.path = os.path.join(os.fspath(tmp_dir), FOLDER)
                os.makedirs(self.path, exist_ok=True)
                self._take_lock()
                self.state = self._resume_state()
        except OSError as e:
            raise self.disk_error(e, "cannot create the temporary folder") from None
        self._counter = 0
        self.save()

    # -- resume ---------------------------------------------------------------

    def _take_lock(self) -> None:
        import fcntl

        self._lock = open(os.path.join(self.path, ".lock"), "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            self._lock = None
            raise InputError(f"{self.path} is in use by another training: give it another "
                             f"--tmp-dir") from None

    def _resume_state(self) -> dict:
        """The phases already done, from a manifest left by a killed run, if it matches."""
        try:
            with open(os.path.join(self.path, MANIFEST), encoding="utf-8") as f:
                old = json.load(f)
        except (OSError, ValueError):  # none (a new folder), or unreadable
            self._clear()
            return {}
        if old.get("version") != VERSION or self.inputs is None or old.get("inputs") is None:
            self._clear()
            return {}
        changed = _difference(old.get("params", {}), self.params, "parameter") or \
            _difference_inputs(old.get("inputs", []), self.inputs)
        if changed:
            raise InputError(f"{self.path} holds an unfinished training with {changed}: "
                             f"run the same command to resume it, or remove the folder "
                             f"(or give another --tmp-dir) to start afresh")
        return old.get("phases", {})

    def _clear(self) -> None:
        for name in os.listdir(self.path):
            if name != ".lock":
                path = os.path.join(self.path, name)
                (shutil.rmtree if os.path.isdir(path) else os.unlink)(path)

    # -- files ------------------------------------------------------------------

    def new_path(self, stem: str) -> str:
        """A fresh file name in the folder."""
        while True:
            self._counter += 1
            path = os.path.join(self.path, f"{stem}-{self._counter:06d}.run")
            if not os.path.exists(path):
                return path

    def phase(self, name: str) -> dict:
        """The saved state of phase ``name`` (an empty dict if it has not started)."""
        return self.state.setdefault(name, {})

    def save(self) -> None:
        """Write the manifest (atomically)."""
        data = {"version": VERSION, "params": self.params, "inputs": self.inputs,
                "phases": self.state}
        try:
            write_atomic(os.path.join(self.path, MANIFEST),
                         json.dumps(data, indent=1).encode())
        except OSError as e:
            raise self.disk_error(e, "cannot write the manifest") from None

    def disk_used(self) -> int:
        """Bytes of the files in the folder now."""
        total = 0
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.path):
                with contextlib.suppress(OSError):
                    total += entry.stat().st_size
        return total

    def disk_error(self, e: OSError, what: str) -> TempDiskError:
        where = getattr(self, "path", None) or "the temporary folder"
        if e.errno == errno.ENOSPC:
            return TempDiskError(f"the temporary folder {where} is full ({what}): free some "
                                 f"space, or give --tmp-dir on a larger disk")
        return TempDiskError(f"{what} in {where}: {e.strerror or e}")

    def remove(self) -> None:
        """Delete the folder and everything in it."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _difference(old: dict, new: dict, what: str) -> str:
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return f"{what} {key}={old.get(key)!r} (now {new.get(key)!r})"
    return ""


def _difference_inputs(old: list, new: list) -> str:
    old_paths = [o[0] for o in old]
    new_paths = [n[0] for n in new]
    if old_paths != new_paths:
        gone = [p for p in old_paths if p not in new_paths]
        added = [p for p in new_paths if p not in old_paths]
        if gone or added:
            name = (gone or added)[0]
            return f"other inputs ({name} {'no longer given' if gone else 'added'})"
        return "the inputs in another order"
    for (path, size, mtime), (_, size2, mtime2) in zip(old, new):
        if size != size2 or mtime != mtime2:
            return f"input {path} changed since (size or modification time)"
    return ""


class WorkDirs:
    """The training's temporary folder, made when first needed; tracks the disk it uses.

    Given ``tmp_dir``, the folder is made at once, so that an unfinished training
    there is taken up again (``inputs`` None: never, it starts afresh).
    """

    def __init__(self, tmp_dir, params: dict, inputs: list | None):
        self.tmp_dir = tmp_dir
        self.params = params
        self.inputs = inputs
        self.current: WorkDir | None = None
        self.peak_disk = 0
        if tmp_dir is not None:
            self.current = WorkDir(tmp_dir, params, inputs)

    @property
    def resumed(self) -> bool:
        return self.current is not None and bool(self.current.state)

    def get(self) -> WorkDir:
        if self.current is None:
            self.current = WorkDir(None, self.params, None)
        return self.current

    def note_disk(self) -> None:
        if self.current is not None:
            self.peak_disk = max(self.peak_disk, self.current.disk_used())

    def remove(self) -> None:
        if self.current is not None:
            self.note_disk()
            self.current.remove()
