"""Writing files atomically: through a temporary file in the same folder and a rename.

An interrupted or failed write never leaves a partial file, and an existing
file is replaced only by a complete one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import BinaryIO, Iterable, Iterator


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` when the ``with`` block ends without error."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".bytepiece-", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # the mode a plain open() would give
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path) as f:
        f.write(data)


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def check_writable(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Raise InputError unless ``atomic_output(path)`` can write ``path`` and ``path``
    is none of ``inputs`` (the same file by device and inode, whatever the names).

    Meant for before a long run: its folder must exist and take a new file (tried
    with an empty temporary file, removed at once), ``path`` must not be a folder,
    and writing it must not replace a file the run reads.

    >>> check_writable("/no/such/folder/model.json")
    Traceback (most recent call last):
    ...
    bytepiece.errors.InputError: cannot write /no/such/folder/model.json: no folder /no/such/folder
    """
    from .errors import InputError

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        why = f"{folder} is not a folder" if os.path.exists(folder) else f"no folder {folder}"
        raise InputError(f"cannot write {path}: {why}")
    if os.path.isdir(path):
        raise InputError(f"cannot write {path}: it is a folder")
    for source in map(os.fspath, inputs):
        if source != "-" and _same_file(source, path):
            same = "" if source == path else f" (the same file as {source})"
            raise InputError(f"cannot write {path}: it is an input of this run{same}; "
                             f"write the output to another file")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".bytepiece-", suffix=".tmp", dir=folder)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _same_file(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are the same existing file (``os.path.samefile``)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist (yet)
        return False
