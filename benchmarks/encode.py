"""Encoding speed of bytepiece against BytePiece 0.6.3 and SentencePiece unigram.

One run, the same inputs for every tokenizer: the lines of each corpus (with
their newlines) encoded as one batch. Prints markdown tables of throughput (MB/s
of UTF-8 input, best of --repeat runs), the ratios between tokenizers, bytes per
token, the cost of offsets (``encode_batch(..., offsets=True)`` against plain
``encode_batch``), whether our ids equal BytePiece 0.6.3's, the time of one ``encode`` call
per line on corpora/en.txt against SentencePiece on the converted model (``bytepiece
convert --to sentencepiece``: the same ids), and the start-up time of
``echo hello | python -m bytepiece encode -m MODEL`` with cold and warm caches.

    PYTHONPATH=. python benchmarks/encode.py                 # about a minute
    python benchmarks/encode.py --max-mb 1 --output bench.md  # quicker

Models are created under benchmarks/work/ (git-ignored) when missing: the
BytePiece model by training BytePiece 0.6.3 itself, the SentencePiece model
with lossless settings on the same text and vocabulary size. See
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _peers
from _peers import Missing
from _report import command_line, load_average, log, machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
CORPORA = ROOT / "corpora"
TRAINING_CORPORA = ("zh", "en", "code")
BENCH_CORPORA = ("zh", "en", "code", "mixed")
MB = 1_000_000


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=WORK / "bytepiece-32k.json",
                   help="BytePiece model used by bytepiece and BytePiece 0.6.3 (default: "
                        "%(default)s, trained with BytePiece 0.6.3 on corpora/{zh,en,code}.txt "
                        "when missing)")
    p.add_argument("--sp-model", type=Path, default=WORK / "sp-32k.model",
                   help="SentencePiece unigram model (default: %(default)s, trained when missing "
                        "on the same text with --vocab-size and lossless settings)")
    p.add_argument("--vocab-size", type=int, default=32000,
                   help="vocabulary size of models trained here (default: %(default)s)")
    p.add_argument("--reference-python", default=None,
                   help="interpreter of the venv holding BytePiece 0.6.3 (default: "
                        "$BYTEPIECE_REFERENCE_PYTHON, else the venv of install_peers.sh, "
                        "benchmarks/work/bytepiece-0.6.3, if present, else "
                        + _peers.DEFAULT_REFERENCE_PYTHON + ")")
    p.add_argument("--corpora", default=",".join(BENCH_CORPORA),
                   help="comma-separated names of corpora/NAME.txt (default: %(default)s)")
    p.add_argument("--max-mb", type=float, default=None,
                   help="cut each corpus to its first MB megabytes (whole lines) for quick runs")
    p.add_argument("--reference-max-mb", type=float, default=1.0,
                   help="BytePiece 0.6.3 is slow: measure it on the first MB megabytes of "
                        "each (cut) corpus; 0 for all of it (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs per measurement; the best is kept (default: %(default)s)")
    p.add_argument("--startup-runs", type=int, default=5,
                   help="warm start-up runs; the median is kept (default: %(default)s)")
    p.add_argument("--single-lines", type=int, default=30000,
                   help="lines of corpora/en.txt encoded one call each for the per-call "
                        "table (default: %(default)s; 0 skips it)")
    p.add_argument("--output", type=Path, default=None, help="also write the tables to FILE.md")
    args = p.parse_args(argv)
    if args.repeat < 1 or args.startup_runs < 1:
        p.error("--repeat and --startup-runs must be at least 1")
    return args


# -- inputs ----------------------------------------------------------------------

def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 file, each with its newline (the last one may lack it)."""
    text = path.read_bytes().decode("utf-8")
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def first_megabytes(lines: list[str], megabytes: float | None) -> list[str]:
    """The longest prefix of whole lines within that many megabytes (at least one line)."""
    if not megabytes:
        return lines
    budget, total = megabytes * MB, 0
    for i, line in enumerate(lines):
        total += len(line.encode("utf-8"))
        if total > budget:
            return lines[:max(i, 1)]
    return lines


def utf8_size(lines: list[str]) -> int:
    return sum(len(line.encode("utf-8")) for line in lines)


# -- models ----------------------------------------------------------------------

def ensure_models(args, reference_python: str, reference: str | Missing, spm):
    training = [CORPORA / f"{name}.txt" for name in TRAINING_CORPORA]
    if not args.model.exists():
        if isinstance(reference, Missing):
            raise SystemExit(f"{args.model} does not exist and BytePiece 0.6.3 is not available "
                             f"to train it ({reference.reason}); pass --model")
        log(f"training {args.model} with BytePiece 0.6.3 (vocab {args.vocab_size}; "
            f"about a minute and a half) ...")
        _peers.train_reference_model(reference_python, args.model, training, args.vocab_size)
    if not isinstance(spm, Missing) and not args.sp_model.exists():
        log(f"training {args.sp_model} with SentencePiece (vocab {args.vocab_size}) ...")
        _peers.train_sentencepiece_model(spm, args.sp_model, training, args.vocab_size)


def import_bytepiece():
    try:
        from bytepiece import Tokenizer
    except ImportError as e:
        raise SystemExit(f"cannot import bytepiece ({e}): install the project "
                         f"(pip install -e .) or set PYTHONPATH to the checkout")
    if not hasattr(Tokenizer, "encode_batch"):
        raise SystemExit("the bytepiece imported here is not this project (no encode_batch); "
                         "run with this project's environment, not the reference's")
    return Tokenizer


# -- measurements ----------------------------------------------------------------

def measure_corpus(tokenizer, sp, lines: list[str], repeat: int, cores: int,
                   offsets: bool = True):
    """Best times and token counts of bytepiece and SentencePiece on one corpus, and
    with ``offsets`` bytepiece's ``encode_batch(..., offsets=True)`` ("single offsets",
    "multi offsets"), whose ids must be the plain ones.

    The runs are interleaved (each round times every configuration once), so a
    burst of other work on the machine does not land on one tokenizer only; each
    result is dropped as soon as it is counted, to keep memory flat.
    """
    runs = {("bytepiece", "single"): lambda: tokenizer.encode_batch(lines, num_threads=1),
            ("bytepiece", "multi"): lambda: tokenizer.encode_batch(lines, num_threads=None)}
    if offsets:
        runs[("bytepiece", "single offsets")] = lambda: tokenizer.encode_batch(
            lines, num_threads=1, offsets=True)
        runs[("bytepiece", "multi offsets")] = lambda: tokenizer.encode_batch(
            lines, num_threads=None, offsets=True)
    if not isinstance(sp, Missing):
        runs[("sentencepiece", "single")] = lambda: sp.encode(lines, num_threads=1)
        runs[("sentencepiece", "multi")] = lambda: sp.encode(lines, num_threads=cores)
    results = {"bytepiece": {mode: float("inf") for _, mode in runs},
               "sentencepiece": {"single": float("inf"), "multi": float("inf")}}
    one_thread_ids = None
    for round_ in range(repeat):
        for (tokenizer_name, mode), run in runs.items():
            gc.collect()
            t0 = time.perf_counter()
            ids = run()
            seconds = time.perf_counter() - t0
            entry = results[tokenizer_name]
            entry[mode] = min(entry[mode], seconds)
            if round_ == 0:
                if mode.endswith("offsets"):
                    if [pair[0] for pair in ids] != one_thread_ids:
                        raise SystemExit(f"bytepiece's ids with offsets ({mode}) differ from "
                                         f"its ids without")
                    del ids
                    continue
                entry.setdefault("tokens", sum(map(len, ids)))
                if tokenizer_name == "bytepiece" and mode == "single":
                    one_thread_ids = ids
                elif tokenizer_name == "bytepiece" and mode == "multi":
                    if ids != one_thread_ids:
                        raise SystemExit(f"bytepiece's ids on {cores} threads differ from "
                                         f"its ids on one thread")
            del ids
        one_thread_ids = None
    return results["bytepiece"], (sp if isinstance(sp, Missing) else results["sentencepiece"])


def measure_single_calls(Tokenizer, spm, model: Path, lines: list[str], repeat: int):
    """Per-call microseconds of ``encode(line)`` one line at a time: bytepiece (best path
    and sampled, alpha=0.1, each on a Tokenizer of its own that makes no other kind of
    call) and SentencePiece on the model converted from bytepiece's, which gives the same
    ids (counted). A first pass over the lines warms each up (it takes bytepiece from
    its start-up Python path to its kernel); then the best of ``repeat`` interleaved
    passes. Returns a dict of figures, or Missing."""
    if isinstance(spm, Missing):
        return spm
    from bytepiece import Model
    from bytepiece.convert.sentencepiece import to_sentencepiece

    tokenizer, sampler = Tokenizer(str(model)), Tokenizer(str(model), seed=0)
    t0 = time.perf_counter()
    for line in lines:
        tokenizer.encode(line)
    first_pass = time.perf_counter() - t0
    for line in lines:
        sampler.encode(line, alpha=0.1)

    converted = WORK / (model.stem + ".converted.model")
    if not converted.exists() or converted.stat().st_mtime < model.stat().st_mtime:
        converted.write_bytes(to_sentencepiece(Model.load(model)))
    sp = spm.SentencePieceProcessor(model_file=str(converted))
    same = sum(tokenizer.encode(line) == sp.encode(line) for line in lines)
    encode, sample, sp_encode = tokenizer.encode, sampler.encode, sp.encode
    runs = {"bytepiece": lambda: [encode(line) for line in lines],
            "bytepiece alpha=0.1": lambda: [sample(line, alpha=0.1) for line in lines],
            "SentencePiece": lambda: [sp_encode(line) for line in lines]}
    best = {name: float("inf") for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            gc.collect()
            t0 = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - t0)
    figures = {name: seconds / len(lines) * 1e6 for name, seconds in best.items()}
    return {"us": figures, "lines": len(lines), "same": same, "converted": converted,
            "chars": sum(map(len, lines)) / len(lines),
            "first pass": first_pass / len(lines) * 1e6}


def compare_ids(tokenizer, cuts: dict[str, list[str]], reference: dict) -> tuple[bool, int, str]:
    """(all equal, number of lines compared, where the first difference is)."""
    n = 0
    for name, lines in cuts.items():
        ours = tokenizer.encode_batch(lines, num_threads=1)
        theirs = reference["corpora"][name]["ids"]
        for k, (a, b) in enumerate(zip(ours, theirs)):
            if a != b:
                return False, n + k + 1, f"{name}.txt line {k + 1}: {lines[k][:60]!r}"
        if len(ours) != len(theirs):
            return False, n, f"{name}.txt: {len(ours)} lines against {len(theirs)}"
        n += len(lines)
    return True, n, ""


def time_command(argv: list[str], env: dict, stdin: bytes | None, cwd: str) -> float | Missing:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, env=env, cwd=cwd, capture_output=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        return Missing(proc.stderr.decode(errors="replace").strip()[-300:], "failed")
    return seconds


def measure_startup(model: Path, sp_model: Path, spm, reference_python: str,
                    reference: str | Missing, runs: int) -> list[tuple[str, object, object]]:
    """Rows (command, first run, median of warm runs) for each tokenizer's start-up."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bytepiece-startup-") as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "numba"),
                   BYTEPIECE_CACHE_DIR=os.path.join(tmp, "models"))
        shell = f"echo hello | {shlex.quote(sys.executable)} -m bytepiece encode -m " \
                f"{shlex.quote(str(model))}"
        argv = ["/bin/sh", "-c", shell]
        rows.append(("`echo hello \\| python -m bytepiece encode -m MODEL`",
                     *_first_and_median(argv, env, None, tmp, runs)))

    label = "SentencePiece: `python -c \"import sentencepiece; load; encode('hello')\"`"
    if isinstance(spm, Missing):
        rows.append((label, spm, spm))
    else:
        code = ("import sentencepiece as spm, sys; "
                "spm.SentencePieceProcessor(model_file=sys.argv[1]).encode('hello')")
        argv = [sys.executable, "-c", code, str(sp_model)]
        rows.append((label, *_first_and_median(argv, dict(os.environ), None,
                                               tempfile.gettempdir(), runs)))

    label = "BytePiece 0.6.3: `python -c \"from bytepiece import Tokenizer; " \
            "load; encode('hello')\"`"
    if isinstance(reference, Missing):
        rows.append((label, reference, reference))
    else:
        code = "import sys; from bytepiece import Tokenizer; Tokenizer(sys.argv[1]).encode('hello')"
        argv = [reference_python, "-I", "-c", code, str(model)]
        rows.append((label, *_first_and_median(argv, dict(os.environ), None,
                                               tempfile.gettempdir(), runs)))
    return rows


def _first_and_median(argv, env, stdin, cwd, runs):
    first = time_command(argv, env, stdin, cwd)
    if isinstance(first, Missing):
        return first, first
    warm = []
    for _ in range(runs):
        t = time_command(argv, env, stdin, cwd)
        if isinstance(t, Missing):
            return first, t
        warm.append(t)
    return first, statistics.median(warm)


def parallel_capacity(cores: int, seconds: float = 0.3) -> float:
    """How many cores' worth of work ``cores`` busy processes get done right now.

    Other work on the machine (or an oversubscribed virtual machine) can leave
    fewer cores than ``os.cpu_count()`` says; the all-core figures are bounded
    by this, so the report shows it.
    """
    import multiprocessing

    n = 200_000
    t0 = time.perf_counter()
    loops = 0
    while time.perf_counter() - t0 < seconds:  # calibrate: loops in ``seconds`` on one core
        _spin(n)
        loops += 1
    work = [n] * loops
    with multiprocessing.get_context("fork").Pool(cores) as pool:
        pool.map(_spin, [1] * cores)
        t0 = time.perf_counter()
        pool.map(_spin_many, [work] * cores)
        elapsed = time.perf_counter() - t0
    return cores * seconds / elapsed


def _spin(n: int) -> int:
    return sum(range(n))


def _spin_many(work: list[int]) -> int:
    return sum(_spin(n) for n in work)


# -- report ----------------------------------------------------------------------

def mbps(nbytes: int, seconds) -> str:
    if isinstance(seconds, Missing):
        return str(seconds)
    if seconds is None:
        return "n/a"
    return f"{nbytes / seconds / MB:.2f}"


def ratio(a_bytes, a_seconds, b_bytes, b_seconds) -> str:
    if any(isinstance(x, Missing) or x is None for x in (a_seconds, b_seconds)):
        return "–"
    return f"{(a_bytes / a_seconds) / (b_bytes / b_seconds):.1f}x"


def seconds_cell(value) -> str:
    return str(value) if isinstance(value, Missing) else f"{value:.3f} s"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def render(args, info, sizes, cut_sizes, bp, bp_cut, sp, ref, ids_check, single, startup,
           elapsed) -> str:
    cores = info["cores"]
    names = list(sizes)
    # a "total" row: all bytes over the sum of the best times
    sizes = dict(sizes, total=sum(sizes.values()))
    cut_sizes = dict(cut_sizes, total=sum(cut_sizes.values()))

    def total(results, key):
        if isinstance(results, Missing):
            return results
        values = [results[n][key] for n in names]
        return None if any(v is None for v in values) else sum(values)

    def get(results, name, key):
        if isinstance(results, Missing):
            return results
        if name == "total":
            return total(results, key)
        return results[name][key]

    ref_note = "all of each corpus" if not args.reference_max_mb else \
        f"the first {args.reference_max_mb:g} MB of each corpus"
    ref_runs = ref if isinstance(ref, Missing) else ref["corpora"]
    lines = [
        "## Encoding throughput",
        "",
        f"MB/s of UTF-8 input, best of {args.repeat}; each corpus is its list of lines "
        f"(newlines kept) encoded as one batch. {cores} cores.",
        "",
    ]
    header = ["corpus", "MB", "MB*", "bytepiece 1 thread", f"bytepiece {cores} threads",
              "BytePiece 0.6.3 1 process*", f"BytePiece 0.6.3 {cores} processes*",
              "SentencePiece 1 thread", f"SentencePiece {cores} threads"]
    rows = []
    for name in names + ["total"]:
        n, c = sizes[name], cut_sizes[name]
        rows.append([name, f"{n / MB:.2f}", f"{c / MB:.2f}",
                     mbps(n, get(bp, name, "single")), mbps(n, get(bp, name, "multi")),
                     mbps(c, get(ref_runs, name, "single")), mbps(c, get(ref_runs, name, "multi")),
                     mbps(n, get(sp, name, "single")), mbps(n, get(sp, name, "multi"))])
    lines += table(header, rows)
    if isinstance(ref, Missing):
        lines += ["", f"\\* BytePiece 0.6.3 {ref.label}: {ref.reason}."]
    else:
        lines += ["", f"\\* BytePiece {ref['version']} measured on {ref_note} (whole lines; "
                      f"column MB*): one `encode` per line, as it has no batch or thread option; "
                      f"{cores} processes: a multiprocessing.Pool, each process loading the model "
                      f"once, over contiguous chunks of lines."]
    if isinstance(sp, Missing):
        lines += [f"SentencePiece: {sp.reason}."]

    lines += ["", "## Ratios and compression", ""]
    header = ["corpus", f"bytepiece {cores} threads / 1 thread",
              "bytepiece / SentencePiece, 1 thread", f"bytepiece / SentencePiece, {cores} threads",
              "bytepiece / BytePiece 0.6.3, 1 thread",
              f"bytepiece / BytePiece 0.6.3, {cores} cores",
              "bytes/token bytepiece", "bytes/token SentencePiece"]
    rows = []
    for name in names + ["total"]:
        n, c = sizes[name], cut_sizes[name]
        bp1, bpn = get(bp, name, "single"), get(bp, name, "multi")
        rows.append([
            name, ratio(n, bpn, n, bp1),
            ratio(n, bp1, n, get(sp, name, "single")), ratio(n, bpn, n, get(sp, name, "multi")),
            ratio(c, get(bp_cut, name, "single"), c, get(ref_runs, name, "single")),
            ratio(c, get(bp_cut, name, "multi"), c, get(ref_runs, name, "multi")),
            f"{n / get(bp, name, 'tokens'):.2f}",
            str(sp) if isinstance(sp, Missing) else f"{n / get(sp, name, 'tokens'):.2f}",
        ])
    lines += table(header, rows)
    lines += ["", "bytepiece / BytePiece 0.6.3: both on the same lines (column MB*), "
                  "bytepiece timed there too, best of the same number of runs. Both use the "
                  "same model, so their bytes/token are equal wherever their ids are."]

    lines += ["", "## Offsets", "",
              f"`encode_batch(lines, offsets=True)` (ids and each token's character span) "
              f"against plain `encode_batch(lines)`, MB/s of UTF-8 input, best of "
              f"{args.repeat}, timed in the same rounds; the target is a time ratio of at "
              f"most 1.5.", ""]
    header = ["corpus", "encode_batch 1 thread", "offsets=True 1 thread", "time ratio",
              f"encode_batch {cores} threads", f"offsets=True {cores} threads", "time ratio"]
    rows = []
    for name in names + ["total"]:
        n = sizes[name]
        row = [name]
        for mode in ("single", "multi"):
            plain, offsets = get(bp, name, mode), get(bp, name, mode + " offsets")
            row += [mbps(n, plain), mbps(n, offsets), f"{offsets / plain:.2f}x"]
        rows.append(row)
    lines += table(header, rows)

    ok, n_lines, where = ids_check if not isinstance(ids_check, Missing) else (None, 0, "")
    if isinstance(ids_check, Missing):
        verdict = f"ids identical: not checked ({ids_check.reason})"
    else:
        verdict = f"ids identical: {'yes' if ok else 'no'} ({n_lines} lines" + \
                  ("" if ok else f"; first difference at {where}") + ")"
    lines += ["", f"**{verdict}** — bytepiece against BytePiece 0.6.3 on the lines "
                  f"BytePiece 0.6.3 encoded above."]

    lines += ["", "## One call per text", ""]
    if isinstance(single, Missing):
        lines += [f"Not measured: {single.reason}."]
    else:
        us = single["us"]
        sp_us = us["SentencePiece"]
        lines += [f"Microseconds per `encode(line)` call, one line at a time, over the first "
                  f"{single['lines']} lines of corpora/en.txt ({single['chars']:.1f} characters "
                  f"each on average, newline kept), best of {args.repeat} passes after a "
                  f"warm-up pass. SentencePiece runs the bytepiece model converted with "
                  f"`bytepiece convert --to sentencepiece` ({single['converted'].name}): "
                  f"identical ids on {single['same']} of {single['lines']} lines.", ""]
        lines += table(["tokenizer", "µs per call", "/ SentencePiece"],
                       [[name, f"{value:.2f}", f"{value / sp_us:.2f}x"]
                        for name, value in us.items()])
        lines += ["", f"The warm-up pass of the new Tokenizer took {single['first pass']:.2f} "
                      f"µs per call (numba was imported by the runs above): a Tokenizer "
                      f"segments its first 64 KB in Python, so that a program encoding a few "
                      f"lines never imports numba, then loads its kernel."]
    lines += ["", "## Start-up", "",
              f"Wall time of the whole command. First run: bytepiece with empty "
              f"NUMBA_CACHE_DIR and BYTEPIECE_CACHE_DIR (kernels compile, the model's arrays "
              f"are built); warm: median of {args.startup_runs} further runs with the same "
              f"cache folders.", ""]
    lines += table(["command", "first run (cold)", f"warm (median of {args.startup_runs})"],
                   [[cmd, seconds_cell(a), seconds_cell(b)] for cmd, a, b in startup])
    failed = [f"{cmd}: {v.reason}" for cmd, a, b in startup for v in (a, b)
              if isinstance(v, Missing) and v.label == "failed"]
    lines += [""] + [f"- failed: {msg}" for msg in dict.fromkeys(failed)]
    lines += ([""] if failed else []) + ["## Setup", ""]
    lines += [f"- {key}: {value}" for key, value in info["setup"].items()]
    lines += [f"- command: `{info['command']}`", f"- run time: {elapsed:.0f} s", ""]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------

def main(argv=None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    cores = os.cpu_count() or 1
    load_start = os.getloadavg()[0]
    capacity_start = parallel_capacity(cores)
    names = [n.strip() for n in args.corpora.split(",") if n.strip()]
    for name in names:
        if not (CORPORA / f"{name}.txt").is_file():
            raise SystemExit(f"no corpus {CORPORA / (name + '.txt')}")

    reference_python = _peers.reference_python(args.reference_python)
    reference_version = _peers.check_reference(reference_python)
    spm = _peers.import_sentencepiece()
    ensure_models(args, reference_python, reference_version, spm)

    Tokenizer = import_bytepiece()
    import bytepiece
    t0 = time.perf_counter()
    tokenizer = Tokenizer(str(args.model))
    load_seconds = time.perf_counter() - t0
    sp = spm if isinstance(spm, Missing) else spm.SentencePieceProcessor(
        model_file=str(args.sp_model))

    corpora = {name: first_megabytes(read_lines(CORPORA / f"{name}.txt"), args.max_mb)
               for name in names}
    cuts = {name: first_megabytes(lines, args.reference_max_mb)
            for name, lines in corpora.items()}
    sizes = {name: utf8_size(lines) for name, lines in corpora.items()}
    cut_sizes = {name: utf8_size(lines) for name, lines in cuts.items()}

    # compile or load the kernels and start the thread pool outside the timings
    warm = first_megabytes(corpora[names[0]], 0.2)
    tokenizer.encode_batch(warm, num_threads=1)
    tokenizer.encode_batch(warm, num_threads=None)

    bp_results, sp_results = {}, ({} if not isinstance(sp, Missing) else sp)
    for name, lines in corpora.items():
        log(f"{name}: {sizes[name] / MB:.2f} MB, {len(lines)} lines: bytepiece and "
            f"SentencePiece ...")
        bp_results[name], sp_result = measure_corpus(tokenizer, sp, lines, args.repeat, cores)
        if not isinstance(sp, Missing):
            sp_results[name] = sp_result

    # bytepiece again on the lines BytePiece 0.6.3 gets, for ratios on the same text
    bp_cut_results = {name: measure_corpus(tokenizer, Missing("not needed"), lines,
                                           args.repeat, cores, offsets=False)[0]
                      for name, lines in cuts.items()}

    if isinstance(reference_version, Missing):
        reference, ids_check = reference_version, reference_version
    else:
        log(f"BytePiece 0.6.3 on {sum(cut_sizes.values()) / MB:.2f} MB ...")
        reference = _peers.run_reference(reference_python, args.model.resolve(), cuts,
                                         args.repeat, cores, WORK)
        ids_check = reference if isinstance(reference, Missing) else \
            compare_ids(tokenizer, cuts, reference)

    single = Missing("--single-lines 0")
    if args.single_lines > 0:
        log(f"one call per line, {args.single_lines} lines of en.txt ...")
        single_lines = read_lines(CORPORA / "en.txt")[:args.single_lines]
        single = measure_single_calls(Tokenizer, spm, args.model, single_lines, args.repeat)

    log("start-up ...")
    startup = measure_startup(args.model.resolve(), args.sp_model.resolve(), spm,
                              reference_python, reference_version, args.startup_runs)

    info = {
        "cores": cores,
        "command": command_line("benchmarks/encode.py", argv),
        "setup": {
            **machine(cores),
            "load average (1 min) at start, end": load_average(load_start),
            "cores available at start, end": f"{capacity_start:.2f}, "
                                             f"{parallel_capacity(cores):.2f} of {cores} (work "
                                             f"done by {cores} busy processes, in cores; other "
                                             f"work on the machine lowers it and bounds the "
                                             f"all-core figures)",
            "bytepiece": f"{getattr(bytepiece, '__version__', '?')} (numba "
                         f"{_version('numba')}, numpy {_version('numpy')}); model load "
                         f"{load_seconds:.3f} s",
            "BytePiece 0.6.3": str(reference_version) if isinstance(reference_version, Missing)
            else f"{reference_version} at {reference_python}" + (
                "" if isinstance(reference, Missing) else
                f"; model load {reference['load_seconds']:.3f} s"),
            "SentencePiece": str(sp) if isinstance(sp, Missing) else
            f"{_version('sentencepiece')}, {args.sp_model} (vocab {sp.get_piece_size()})",
            "BytePiece model": f"{args.model} (vocab {tokenizer.vocab_size})",
        },
    }
    report = render(args, info, sizes, cut_sizes, bp_results, bp_cut_results, sp_results,
                    reference, ids_check, single, startup, time.perf_counter() - started)
    print(report)
    if args.output:
        args.output.write_text(report + "\n", encoding="utf-8")


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return "?"


if __name__ == "__main__":
    main()
