"""Training time and peak memory against corpus size, for every trainer.

Each trainer (bytepiece, BytePiece 0.6.3, SentencePiece unigram and BPE with lossless
settings, Hugging Face tokenizers' byte-level BPE) trains an 8000-piece vocabulary with
2 workers on the first 1, 4 and 16 MB (whole lines) of the benchmark corpus
corpora/bench/mixed-32mb.txt (mixed Chinese, English and code; built by
corpora/build_bench_corpus.py when missing), in a subprocess of its own, as train.py
does: wall time, and peak RSS of the whole process tree sampled every 50 ms.

Why 8000 pieces: 1 MB of this text cannot give 32000. SentencePiece unigram refuses more
than 15379 pieces there, and bytepiece (min count 2) finds 7508 (results/scaling-32k.md
is a run at 32000, with those gaps).

BytePiece 0.6.3 trains at about 0.1 MB/s, so it runs only on the sizes up to
--reference-max-mb (default 4); the larger ones are reported as skipped, over the time
budget.

    python benchmarks/scaling.py                  # about 2 minutes on 2 cores
    python benchmarks/scaling.py --sizes 0.5,1 --vocab-size 8000 --output /tmp/s.md

Writes benchmarks/results/scaling.md and scaling.png (time and memory, log-log) by
default. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from _peers import Missing
from _report import command_line, load_average, log, machine, publish, require_psutil
from encode import first_megabytes, parallel_capacity, read_lines, table
from train import OPT_IN, PEERS, load_encoder, train_all, warm_up_bytepiece

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
RESULTS = HERE / "results"
SIZES_MB = (1, 4, 16)
SYSTEMS = tuple(k for k in PEERS if k not in OPT_IN)  # bytepiece, reference, sp-*, hf-bpe
MB = 1_000_000


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=",".join(map(str, SIZES_MB)),
                   help="comma-separated corpus sizes in MB (default: %(default)s)")
    p.add_argument("--vocab-size", type=int, default=8000,
                   help="vocabulary size of every model (default: %(default)s, as 1 MB of the "
                        "corpus does not give 32000 pieces to every trainer)")
    p.add_argument("--corpus", type=Path, default=None,
                   help="the text whose first MB are trained on (default: "
                        "corpora/bench/mixed-32mb.txt, built when missing)")
    p.add_argument("--reference-max-mb", type=float, default=4,
                   help="train BytePiece 0.6.3 only on sizes up to this many MB; 0: on none "
                        "(default: %(default)s)")
    p.add_argument("--reference-python", default=None,
                   help="interpreter of the venv holding BytePiece 0.6.3 (found as for train.py)")
    p.add_argument("--skip", action="append", default=[], metavar="PEER",
                   help="leave out a trainer (shown as skipped): "
                        + ", ".join(SYSTEMS[1:]))
    p.add_argument("--workers", type=int, default=2,
                   help="workers or threads of every trainer (default: %(default)s)")
    p.add_argument("--interval", type=float, default=0.05,
                   help="seconds between memory samples (default: %(default)s)")
    p.add_argument("--output", type=Path, default=None,
                   help="the report, FILE.md (default: benchmarks/results/scaling.md)")
    p.add_argument("--plot", type=Path, default=None,
                   help="the plot, FILE.png (default: next to --output, same name)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="also write every figure as JSON")
    args = p.parse_args(argv)
    args.sizes = sorted({float(s) for s in args.sizes.split(",") if s.strip()})
    args.skip = {s.strip() for item in args.skip for s in item.split(",") if s.strip()}
    if args.skip - set(SYSTEMS[1:]):
        p.error(f"--skip takes {', '.join(SYSTEMS[1:])}")
    if not args.sizes or args.sizes[0] <= 0 or args.vocab_size < 259:
        p.error("--sizes must be positive, --vocab-size at least 259")
    args.output = args.output or RESULTS / "scaling.md"
    args.plot = args.plot or args.output.with_suffix(".png")
    return args


def bench_corpus(option: Path | None) -> Path:
    """--corpus, else corpora/bench/mixed-32mb.txt, built first when it is missing."""
    if option:
        return option
    sys.path.insert(0, str(ROOT / "corpora"))
    try:
        import build_bench_corpus
    finally:
        sys.path.remove(str(ROOT / "corpora"))
    path = build_bench_corpus.default_output(build_bench_corpus.DEFAULT_SIZE_MB)
    if not path.is_file():
        log(f"building {path} ...")
    return build_bench_corpus.ensure()


def over_budget(size_mb: float, limit_mb: float) -> Missing:
    return Missing(f"BytePiece 0.6.3 trains at about 0.1 MB/s: sizes above "
                   f"--reference-max-mb {limit_mb:g} are not run ({size_mb:g} MB)",
                   "skipped: over time budget")


# -- report ----------------------------------------------------------------------

def size_label(mb: float) -> str:
    return f"{mb:g} MB"


def growth(points: list[tuple[float, float]]) -> str:
    """How a figure grows with the text, from the smallest to the largest size measured:
    the exponent k of figure ~ size^k (1: linear).

    >>> growth([(1, 2.0), (16, 32.0)]), growth([(1, 2.0)])
    ('1.00', '–')
    """
    if len(points) < 2:
        return "–"
    (x0, y0), (x1, y1) = points[0], points[-1]
    return f"{math.log(y1 / y0) / math.log(x1 / x0):.2f}"


def measure_table(runs: dict, sizes: list[float], field: str, fmt: str) -> list[str]:
    """One row per system, one column per size: the figure ``field`` of each run, or
    why there is none; last column: its growth exponent.

    >>> runs = {1.0: {"bytepiece": {"wall_seconds": 2.0}, "reference": over_budget(1, 0)},
    ...         4.0: {"bytepiece": {"wall_seconds": 8.0}, "reference": over_budget(4, 0)}}
    >>> measure_table(runs, [1.0, 4.0], "wall_seconds", "{:.1f}")[2:]
    ['| bytepiece | 2.0 | 8.0 | 1.00 |', '| BytePiece 0.6.3 | skipped: over time budget | \
skipped: over time budget | – |']
    """
    header = ["system", *map(size_label, sizes), "growth exponent (smallest → largest size "
                                                  "measured)"]
    rows = []
    for key in SYSTEMS:
        if not any(key in runs[s] for s in sizes):
            continue
        cells, points = [], []
        for s in sizes:
            r = runs[s][key]
            if isinstance(r, Missing):
                cells.append(str(r))
            else:
                cells.append(fmt.format(r[field]))
                points.append((s, r[field]))
        rows.append([PEERS[key], *cells, growth(points)])
    return table(header, rows)


def vocab_line(runs: dict, sizes: list[float], target: int) -> str:
    """Which models fell short of the vocabulary size, or that all reached it."""
    short = [f"{PEERS[k]} at {size_label(s)}: {r['vocab']}" for s in sizes
             for k, r in runs[s].items() if isinstance(r, dict) and r["vocab"] < 0.99 * target]
    return ("Every model reached the vocabulary size (within 1%)." if not short else
            "Models more than 1% short of the vocabulary size: " + "; ".join(short) + ".")


def render(args, info: dict, runs: dict) -> str:
    sizes = args.sizes
    lines = [
        "## Training cost against corpus size",
        "",
        f"{args.vocab_size} pieces, {args.workers} workers, trained on the first "
        f"{', '.join(map(size_label, sizes))} (whole lines) of `{info['corpus']}` (mixed "
        f"Chinese, English and code, the same mix in every prefix); each trainer in a "
        f"subprocess of its own, one after the other, as in train.md. Wall time includes the "
        f"interpreter's start-up and imports; peak RSS is summed over the process tree, "
        f"sampled every {args.interval * 1000:.0f} ms. Growth exponent k: the figure grows "
        f"as size^k between the smallest and the largest size measured (1 is linear).",
        "",
        "### Wall time, seconds",
        "",
    ]
    lines += measure_table(runs, sizes, "wall_seconds", "{:.1f}")
    lines += ["", "### Peak RSS, MB", ""]
    lines += measure_table(runs, sizes, "peak_rss_mb", "{:.0f}")
    lines += ["", vocab_line(runs, sizes, args.vocab_size)]
    notes = sorted({f"- {PEERS[k]}: {r.reason}" for results in runs.values()
                    for k, r in results.items() if isinstance(r, Missing)})
    if notes:
        lines += ["", "No figure:", ""] + notes
    if info["plot"]:
        lines += ["", f"Plot: `{info['plot']}`."]
    lines += ["", "### Setup", ""]
    lines += [f"- {key}: {value}" for key, value in info["setup"].items()]
    lines += ["", f"Command: `{info['command']}`; whole run {info['elapsed']:.0f} s.", ""]
    return "\n".join(lines)


def plot(runs: dict, sizes: list[float], path: Path) -> str | Missing:
    """Two log-log panels, time and memory against corpus size, a line per system."""
    import _plot

    plt = _plot.pyplot()
    if isinstance(plt, Missing):
        return plt
    from matplotlib import ticker

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for ax, field, ylabel in ((axes[0], "wall_seconds", "wall time, s"),
                              (axes[1], "peak_rss_mb", "peak RSS, MB")):
        for key in SYSTEMS:
            points = [(s, runs[s][key][field]) for s in sizes
                      if isinstance(runs[s].get(key), dict)]
            if points:
                ax.plot(*zip(*points), label=PEERS[key], **_plot.STYLE[key])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [size_label(s) for s in sizes])
        ax.xaxis.set_minor_locator(ticker.NullLocator())
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_locator(ticker.NullLocator())
        ax.set_xlabel("training text")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title("training time")
    axes[1].set_title("peak memory (process tree)")
    axes[0].legend(fontsize=8)
    _plot.save(fig, path)
    return str(path)


# -- main ------------------------------------------------------------------------

def main(argv=None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    require_psutil()
    corpus = bench_corpus(args.corpus)
    lines = read_lines(corpus)
    cores = os.cpu_count() or 1
    capacity_start, load_start = parallel_capacity(cores), os.getloadavg()[0]
    WORK.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="scaling-", dir=WORK))
    runs = {}
    try:
        warm = warm_up_bytepiece(args.workers)
        for size in args.sizes:
            part = first_megabytes(lines, size)
            text = folder / f"first-{size:g}mb.txt"
            text.write_bytes("".join(part).encode("utf-8"))
            if text.stat().st_size < 0.99 * size * MB:
                raise SystemExit(f"{corpus} has only {text.stat().st_size / MB:.1f} MB, "
                                 f"less than {size:g} MB")
            skip_reference = size > args.reference_max_mb
            log(f"{size:g} MB:")
            models = folder / f"{size:g}mb"
            models.mkdir()
            options = SimpleNamespace(
                vocab_size=args.vocab_size, workers=args.workers, interval=args.interval,
                reference_python=args.reference_python,
                skip=args.skip | ({"reference"} if skip_reference else set()))
            results = train_all(options, [text], models)
            if skip_reference and "reference" not in args.skip:
                results["reference"] = over_budget(size, args.reference_max_mb)
            for r in results.values():
                if isinstance(r, dict):
                    r["vocab"] = load_encoder(r["kind"], Path(r["model"]), 1)[0]
            runs[size] = results
            shutil.rmtree(models, ignore_errors=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    drawn = plot(runs, args.sizes, args.plot)
    if isinstance(drawn, Missing):
        log(f"no plot: {drawn.reason}")
    import bytepiece

    versions = {PEERS[k]: r["version"] for results in runs.values() for k, r in results.items()
                if isinstance(r, dict)}
    info = {
        "corpus": os.path.relpath(corpus, ROOT),
        "plot": None if isinstance(drawn, Missing) else os.path.relpath(drawn, args.output.parent),
        "command": command_line("benchmarks/scaling.py", argv),
        "setup": {
            **machine(cores),
            "load average (1 min) at start, end": load_average(load_start),
            "cores available at start, end": f"{capacity_start:.2f}, "
                                             f"{parallel_capacity(cores):.2f} of {cores}",
            "bytepiece": f"{getattr(bytepiece, '__version__', '?')}; warm-up run before "
                         f"timing, so the kernels come from numba's cache: {warm:.1f} s",
            **{label: v for label, v in versions.items() if label != "bytepiece"},
        },
    }
    if isinstance(drawn, Missing):
        info["setup"]["plot"] = f"not drawn: {drawn.reason}"
    info["elapsed"] = time.perf_counter() - started
    report = render(args, info, runs)
    publish(report, args.output, None if isinstance(drawn, Missing) else drawn)
    if args.json:
        data = {"info": info, "runs": {
            f"{s:g}": {k: ({"missing": r.label, "reason": r.reason} if isinstance(r, Missing)
                           else r) for k, r in results.items()} for s, results in runs.items()}}
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
