"""Build the benchmark corpus: tens of MB of mixed Chinese, English and code, from local text.

The shipped corpora are 2-7 MB each; the scaling benchmark needs more. This script
mixes, without any network access, text that is free to use and already on the machine:

| source | license |
|---|---|
| ``corpora/zh.txt``: Lu Xun, 300 chapters | public domain (caveat on editors' glosses: corpora/README.md) |
| ``corpora/en.txt``: Bierce, the Jargon File, Austen, Melville | public domain |
| ``corpora/code.txt``: the top-level modules of CPython 3.11.7's standard library | PSF License v2 |
| the rest of that standard library, found with ``sysconfig`` (``--stdlib``): every ``.py`` file of its packages, then of ``test/``, never ``site-packages`` | PSF License v2 (its ``LICENSE.txt``) |

How it is mixed, so that the bytes are the same on every run and every prefix of the
file holds about the same mix (``benchmarks/scaling.py`` trains on its first 1, 4, 16 MB):

1. Code from the standard library is laid out as ``corpora/code.txt`` is: each file,
   sorted by path, as ``# ===== Lib/PATH =====`` and its text (CRLF made LF); files that
   are not strict UTF-8 or hold NUL bytes are left out (the count is printed).
2. The target size is shared equally among zh, en and code; a source with less text gives
   the rest of its share to the others (32 MB: all of zh, 1.77 MB; all of en, 6.95 MB;
   23.3 MB of code).
3. Each source is cut into chunks of whole lines (about 4 KB); a source over its share
   keeps chunks at an even stride through it.
4. The chunks are interleaved, always continuing with the source that is furthest behind
   its share (ties: zh, en, code).

    python corpora/build_bench_corpus.py              # corpora/bench/mixed-32mb.txt, about 1 s
    python corpora/build_bench_corpus.py --size-mb 64 --output /tmp/big.txt

It prints the file's SHA256; the default build from CPython 3.11.7's standard library
gives ``EXPECTED_SHA256`` below (another Python version gives other bytes, and says so).
``corpora/bench/`` is git-ignored.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SIZE_MB = 32
DEFAULT_OUTPUT_DIR = HERE / "bench"
CHUNK_BYTES = 4096
MB = 1_000_000
#: the standard library code.txt and EXPECTED_SHA256 were made from
STDLIB_VERSION = "3.11.7"
#: SHA256 of the default build (32 MB) from CPython 3.11.7's standard library
EXPECTED_SHA256 = "7864a56e74dcce8abb160e363f6f122ff81166daacad551ee1becac0c054bda3"


# -- sources ---------------------------------------------------------------------

def stdlib_code(stdlib: Path) -> tuple[str, int, int]:
    """The .py files in the packages of the standard library at ``stdlib``, as one text
    laid out like corpora/code.txt (the top-level modules, already there, are left out):
    (text, files used, files left out as not UTF-8 or holding NUL bytes)."""
    files = []
    for folder, dirs, names in os.walk(stdlib):
        dirs[:] = [d for d in dirs if d not in ("site-packages", "__pycache__")]
        if Path(folder) == stdlib:
            continue  # top-level modules: corpora/code.txt has them
        files += [Path(folder, n) for n in names if n.endswith(".py")]
    rel = sorted((f.relative_to(stdlib).as_posix() for f in files),
                 key=lambda p: (p.startswith(("test/", "idlelib/idle_test/")), p))
    parts, skipped = [], 0
    for path in rel:
        data = (stdlib / path).read_bytes()
        try:
            src = data.decode("utf-8")
        except UnicodeDecodeError:
            skipped += 1
            continue
        if "\0" in src:
            skipped += 1
            continue
        src = src.replace("\r\n", "\n")
        if not src.endswith("\n"):
            src += "\n"
        parts.append(f"# ===== Lib/{path} =====\n{src}")
    return "\n".join(parts), len(parts), skipped


# -- mixing ----------------------------------------------------------------------

def share_out(total: int, available: list[int]) -> list[int]:
    """Split ``total`` bytes equally among sources, none above what it has; what a
    source lacks goes to the others, equally.

    >>> share_out(30, [5, 100, 100])
    [5, 12, 13]
    >>> share_out(300, [5, 100, 100])
    [5, 100, 100]
    """
    shares = [0] * len(available)
    open_ = [i for i, a in enumerate(available) if a > 0]
    left = total
    while left > 0 and open_:
        each, extra = divmod(left, len(open_))
        for rank, i in enumerate(open_):
            shares[i] += each + (rank >= len(open_) - extra)
        left = 0
        for i in open_:
            if shares[i] > available[i]:
                left += shares[i] - available[i]
                shares[i] = available[i]
        open_ = [i for i in open_ if shares[i] < available[i]]
    return shares


def chunks_of(text: str, chunk_bytes: int = CHUNK_BYTES) -> list[str]:
    """The text cut into runs of whole lines of at least ``chunk_bytes`` UTF-8 bytes (the
    last may be shorter); joined, they give the text back.

    >>> chunks_of("a\\nbb\\nc\\n", 3)
    ['a\\nbb\\n', 'c\\n']
    """
    chunks, current, size = [], [], 0
    for line in text.splitlines(keepends=True):
        current.append(line)
        size += len(line.encode("utf-8"))
        if size >= chunk_bytes:
            chunks.append("".join(current))
            current, size = [], 0
    if current:
        chunks.append("".join(current))
    return chunks


def pick_evenly(chunks: list[str], budget: int) -> list[str]:
    """Chunks at an even stride through the list, about ``budget`` bytes of them, in order."""
    total = sum(len(c.encode("utf-8")) for c in chunks)
    if total <= budget:
        return chunks
    m = max(1, -(-budget * len(chunks) // total))  # ceil
    return [chunks[k * len(chunks) // m] for k in range(m)]


def interleave(sources: list[list[str]]) -> str:
    """Concatenate the chunks of every source, always continuing with the source that has
    given the smallest part of its own bytes so far (ties: the first), so that every
    prefix of the result holds about the same mix.

    >>> interleave([["a1", "a2"], ["b1", "b2", "b3", "b4"]])
    'a1b1b2a2b3b4'
    """
    sizes = [[len(c.encode("utf-8")) for c in s] for s in sources]
    totals = [sum(s) or 1 for s in sizes]
    pos, given = [0] * len(sources), [0] * len(sources)
    out = []
    while True:
        live = [i for i in range(len(sources)) if pos[i] < len(sources[i])]
        if not live:
            return "".join(out)
        # the fraction given so far, compared exactly: given[i]/totals[i] < given[j]/totals[j]
        i = min(live, key=lambda k: (given[k] * _prod(totals, k), k))
        out.append(sources[i][pos[i]])
        given[i] += sizes[i][pos[i]]
        pos[i] += 1


def _prod(values: list[int], skip: int) -> int:
    out = 1
    for k, v in enumerate(values):
        if k != skip:
            out *= v
    return out


def build(size_mb: float, corpora: Path = HERE, stdlib: Path | None = None) -> tuple[bytes, dict]:
    """The corpus's bytes for a target size, and what went in: {source: bytes used}, files."""
    stdlib = Path(stdlib or sysconfig.get_paths()["stdlib"])
    texts = {name: (corpora / f"{name}.txt").read_bytes().decode("utf-8")
             for name in ("zh", "en", "code")}
    more_code, used, skipped = stdlib_code(stdlib)
    texts["code"] = texts["code"].rstrip("\n") + "\n\n" + more_code
    chunks = {name: chunks_of(text) for name, text in texts.items()}
    available = [sum(len(c.encode("utf-8")) for c in ch) for ch in chunks.values()]
    shares = share_out(round(size_mb * MB), available)
    picked = [pick_evenly(ch, share) for ch, share in zip(chunks.values(), shares)]
    data = interleave(picked).encode("utf-8")
    info = {"sources": {name: sum(len(c.encode("utf-8")) for c in p)
                        for name, p in zip(chunks, picked)},
            "stdlib": str(stdlib), "stdlib_files": used, "stdlib_files_left_out": skipped}
    return data, info


# -- main ------------------------------------------------------------------------

def default_output(size_mb: float) -> Path:
    return DEFAULT_OUTPUT_DIR / f"mixed-{size_mb:g}mb.txt"


def ensure(size_mb: float = DEFAULT_SIZE_MB, output: Path | None = None) -> Path:
    """The corpus file for that size, built first if it is not there (for the benchmarks)."""
    output = output or default_output(size_mb)
    if not output.is_file():
        write(output, build(size_mb)[0])
    return output


def write(output: Path, data: bytes) -> None:
    """Write atomically: a reader never sees half a corpus."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, output)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=float, default=DEFAULT_SIZE_MB,
                   help="target size in MB of 10^6 bytes (default: %(default)s)")
    p.add_argument("--output", type=Path, default=None,
                   help="default: corpora/bench/mixed-SIZEmb.txt")
    p.add_argument("--stdlib", type=Path, default=None,
                   help="standard library folder (default: this Python's, "
                        + sysconfig.get_paths()["stdlib"] + ")")
    args = p.parse_args(argv)
    if args.size_mb <= 0:
        p.error("--size-mb must be positive")
    output = args.output or default_output(args.size_mb)
    data, info = build(args.size_mb, stdlib=args.stdlib)
    write(output, data)
    digest = hashlib.sha256(data).hexdigest()
    mix = ", ".join(f"{name} {n / MB:.2f} MB" for name, n in info["sources"].items())
    print(f"{output}: {len(data):,} bytes ({mix}); {info['stdlib_files']} files from "
          f"{info['stdlib']} ({info['stdlib_files_left_out']} left out: not UTF-8 or NUL "
          f"bytes)", file=sys.stderr)
    print(f"{digest}  {output}")
    version = ".".join(map(str, sys.version_info[:3]))
    if args.size_mb == DEFAULT_SIZE_MB and args.stdlib is None and EXPECTED_SHA256:
        if digest == EXPECTED_SHA256:
            print("same bytes as the recorded build", file=sys.stderr)
        else:
            print(f"differs from the recorded build ({EXPECTED_SHA256[:12]}..., CPython "
                  f"{STDLIB_VERSION}'s standard library; this is {version})", file=sys.stderr)


if __name__ == "__main__":
    main()
