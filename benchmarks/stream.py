"""The encode command on inputs larger than its 4 MB blocks: memory, speed, and a long line's ids.

Each figure is a whole `bytepiece encode` process: wall time, and the peak RSS of its
process tree (sampled every 50 ms, as in train.py), with a 32000-piece model trained on
corpora/zh, en and code (benchmarks/work/stream-32k.json, trained once).

- A long line: --line-mb MB of the shipped corpora with every newline replaced by a space
  and none at the end, `bytepiece encode -m MODEL --format bin -q -o line.bin line.txt`;
  then the same line encoded whole in memory (`Tokenizer.encode_buffer`, in a process of
  its own, measured the same way) and the two id arrays compared.
- A piped corpus: the shipped corpora repeated to --pipe-mb MB, piped into
  `bytepiece encode -m MODEL` (`--format ids` to /dev/null, and `--format bin -q -o FILE`).

    python benchmarks/stream.py              # 64 MB line, 512 MB piped: about 2 minutes
    python benchmarks/stream.py --quick      # 8 MB and 32 MB: a smoke test

Writes benchmarks/results/stream.md (command, date, commit). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from _report import (command_line, ensure_model, footer, load_average, log, machine, publish,
                     require_psutil)
from train import run_measured

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPORA = ROOT / "corpora"
WORK = HERE / "work"
RESULTS = HERE / "results" / "stream.md"
MB = 1_000_000

WHOLE_SCRIPT = """\
import sys
import numpy as np
from bytepiece import Tokenizer
tokenizer = Tokenizer(sys.argv[1])
buf = np.fromfile(sys.argv[2], np.uint8)
ids, _ = tokenizer.encode_buffer(buf, np.array([len(buf)], np.int64))
np.save(sys.argv[3], ids)
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--line-mb", type=float, default=None, help="size of the long line (default 64; 8 with --quick)")
    p.add_argument("--pipe-mb", type=float, default=None, help="size piped (default 512; 32 with --quick)")
    p.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    p.add_argument("--model", type=Path, default=WORK / "stream-32k.json",
                   help="model (default: %(default)s, trained when missing)")
    p.add_argument("--interval", type=float, default=0.05, help="RSS sampling interval, s")
    p.add_argument("--output", type=Path, default=RESULTS, help="report (default: %(default)s)")
    args = p.parse_args(argv)
    args.line_mb = args.line_mb or (8 if args.quick else 64)
    args.pipe_mb = args.pipe_mb or (32 if args.quick else 512)
    return args


def long_line(nbytes: int) -> bytes:
    """``nbytes`` or a little less of the shipped corpora as one line: newlines become
    spaces, the cut falls on a space (so no character is split), no newline at the end.

    >>> line = long_line(1000)
    >>> len(line) <= 1000 and b"\\n" not in line and not line.endswith(b" ")
    True
    """
    text = b" ".join((CORPORA / f"{name}.txt").read_bytes() for name in ("zh", "en", "code"))
    text = text.replace(b"\n", b" ")
    text = text * (nbytes // len(text) + 1)
    return text[:text.rindex(b" ", 0, nbytes + 1)].rstrip(b" ")


def repeat_command(nbytes: int) -> tuple[str, int]:
    """A shell command writing the shipped corpora repeated to about ``nbytes``, and the
    exact number of bytes it writes."""
    files = [CORPORA / f"{name}.txt" for name in ("zh", "en", "code", "mixed")]
    size = sum(f.stat().st_size for f in files)
    times = max(1, round(nbytes / size))
    cat = "cat " + " ".join(shlex.quote(str(f)) for f in files)
    return f"for i in $(seq {times}); do {cat}; done", times * size


def bytepiece(*args: str) -> str:
    return " ".join(shlex.quote(a) for a in [sys.executable, "-m", "bytepiece", *args])


def measured(shell: str, args, cwd: Path):
    """Run a shell command as run_measured does; stop the benchmark if it fails."""
    run = run_measured(["bash", "-o", "pipefail", "-c", shell], dict(os.environ), cwd,
                       args.interval)
    if run.returncode != 0:
        raise SystemExit(f"{shell} failed ({run.returncode}): {run.stderr[-800:]}")
    return run


def row(what: str, nbytes: int, run, note: str = "") -> list[str]:
    """A table row: what, MB, seconds, MB/s, peak RSS MiB, note.

    >>> from types import SimpleNamespace
    >>> row("x", 2 * MB, SimpleNamespace(wall=0.5, peak_rss=3 << 20))
    ['x', '2.0', '0.50', '4.0', '3', '']
    """
    return [what, f"{nbytes / MB:.1f}", f"{run.wall:.2f}", f"{nbytes / MB / run.wall:.1f}",
            f"{run.peak_rss / 2**20:.0f}", note]


def main(argv=None) -> None:
    import numpy as np

    require_psutil()
    args = parse_args(argv)
    load, start = os.getloadavg()[0], time.perf_counter()
    ensure_model(args.model)
    model = str(args.model)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bytepiece-stream-", dir=None) as tmp:
        folder = Path(tmp)
        line = long_line(int(args.line_mb * MB))
        (folder / "line.txt").write_bytes(line)
        del line
        # warm: kernels from numba's cache, the model's cache entry built
        measured(f"echo warm | {bytepiece('encode', '-m', model)} > /dev/null", args, folder)
        log(f"long line, {args.line_mb} MB, streamed ...")
        streamed = measured(bytepiece("encode", "-m", model, "--format", "bin", "-q", "-o",
                                      "line.bin", "line.txt"), args, folder)
        log("long line, encoded whole ...")
        whole = measured(" ".join(shlex.quote(a) for a in [sys.executable, "-c", WHOLE_SCRIPT,
                                                             model, "line.txt", "whole.npy"]),
                         args, folder)
        nbytes = (folder / "line.txt").stat().st_size
        ids = np.fromfile(folder / "line.bin", np.uint16).astype(np.int64)
        reference = np.load(folder / "whole.npy").astype(np.int64)
        same = ids.shape == reference.shape and bool((ids == reference).all())
        verdict = f"{len(ids):,} ids, " + ("identical to the line encoded whole" if same else
                                          f"**differ** from the {len(reference):,} of the line encoded whole")
        rows.append(row("long line, `--format bin` (streamed)", nbytes, streamed, verdict))
        rows.append(row("long line, `Tokenizer.encode_buffer` (whole, in memory)", nbytes,
                        whole, f"{len(reference):,} ids"))
        source, piped = repeat_command(int(args.pipe_mb * MB))
        for fmt, tail in (("ids", "> /dev/null"), ("bin", "-q -o piped.bin")):
            log(f"piped, {piped / MB:.0f} MB, --format {fmt} ...")
            run = measured(f"{source} | {bytepiece('encode', '-m', model, '--format', fmt)} {tail}",
                           args, folder)
            rows.append(row(f"piped corpus, `--format {fmt}`", piped, run))
    info = machine(os.cpu_count() or 1)
    lines = ["## The encode command on large inputs", "",
             "Whole processes: wall time, and peak RSS summed over the process tree (sampled "
             f"every {args.interval * 1000:.0f} ms). Model: {args.model.name}. MB are 10^6 bytes, "
             "MiB 2^20.", "",
             "| input | MB | seconds | MB/s | peak RSS MiB | |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    report = {"setup": {**info, "load average (start, end)": load_average(load)},
              "command": command_line("benchmarks/stream.py", argv),
              "elapsed": time.perf_counter() - start}
    lines += footer(report, {"long line": "the shipped corpora zh, en, code joined, newlines "
                                          "replaced by spaces, repeated and cut at a space",
                             "piped corpus": f"`{source.replace(str(CORPORA) + '/', 'corpora/')} | "
                                             "bytepiece encode -m MODEL --format FORMAT`"})
    publish("\n".join(lines), args.output)
    if not same:
        raise SystemExit("the streamed ids differ from the line encoded whole")


if __name__ == "__main__":
    main()
