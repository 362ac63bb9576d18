"""Training at corpus scale: time, memory and temporary disk on 256 MB, 1 GB and 4 GB of real text.

Every trainer trains a 32000-piece vocabulary with 2 workers on each size of the scale
corpus (corpora/scale/scale-{256M,1G,4G}.txt, built by corpora/build_scale_corpus.py from
Debian packages: Linux, GCC, OpenJDK, Go, Rust sources and documentation), one after the
other, each in a subprocess measured as in train.py: wall time, peak RSS of the whole
process tree (sampled every 50 ms), MB/s, and for bytepiece the peak size of its
--tmp-dir (sampled every 0.2 s). The trainers:

- bytepiece with its default memory budget, and with --max-memory 1G (another --tmp-dir):
  whether the two models are byte-identical;
- Hugging Face tokenizers' byte-level BPE, SentencePiece BPE and unigram (lossless settings
  of train.py, train_extremely_large_corpus=True);
- BytePiece 0.6.3, only up to --reference-max (default 256M): it trains at about 0.1 MB/s.

A trainer that runs past --timeout (default 3600 s) or whose tree passes --memory-limit
is killed and reported so ("over 3600 s"); one that is missing or fails says why.

    python benchmarks/scale.py                 # hours; writes benchmarks/results/scale.md
    python benchmarks/scale.py --quick         # 4 MB of the shipped corpora: about a minute

Models and temporary folders go to benchmarks/work/scale-*/ (git-ignored), removed at the
end unless --keep. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import _peers
from _peers import Missing
from _report import command_line, footer, load_average, log, machine, require_psutil
from encode import parallel_capacity, table
from train import (HF_SCRIPT, SENTENCEPIECE_OPTIONS, SENTENCEPIECE_SCRIPT, Trainer,
                   _version, compare_models, tree_rss, warm_up_bytepiece)
from train import PEERS as TRAIN_PEERS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPORA = ROOT / "corpora"
SCALE_DIR = CORPORA / "scale"
WORK = HERE / "work"
RESULTS = HERE / "results" / "scale.md"
QUICK_RESULTS = WORK / "quick" / "scale.md"
SIZES = "256M,1G,4G"
QUICK_SIZES = "4M"
QUICK_SOURCE_BYTES = 8_000_000  # the first 8 MB of corpora/*.txt, for --quick
MB = 1_000_000
MiB = 2**20
UNITS = {"K": 10**3, "M": 10**6, "G": 10**9}

#: key for --skip -> label in the table, in the order they run at each size
PEERS = {
    "bytepiece": "bytepiece (default)",
    "bytepiece-limited": "bytepiece --max-memory",
    "hf-bpe": TRAIN_PEERS["hf-bpe"],
    "sp-bpe": TRAIN_PEERS["sp-bpe"],
    "sp-unigram": TRAIN_PEERS["sp-unigram"],
    "reference": TRAIN_PEERS["reference"],
}
#: train.py's lossless SentencePiece settings, for a corpus too large for the default
SCALE_SENTENCEPIECE_OPTIONS = dict(SENTENCEPIECE_OPTIONS, train_extremely_large_corpus=True)


def parse_size(text: str) -> int:
    """Bytes of a size written like 256M, 1G or 4M (powers of 1000, as the corpus files).

    >>> parse_size("256M"), parse_size("1G"), parse_size("1.5k")
    (256000000, 1000000000, 1500)
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG])\s*", text, re.I)
    if not m:
        raise ValueError(f"not a size: {text!r} (like 256M or 1G)")
    return round(float(m.group(1)) * UNITS[m.group(2).upper()])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=None,
                   help=f"comma-separated corpus sizes (default: {SIZES}; {QUICK_SIZES} with "
                        f"--quick). A size with a file corpora/scale/scale-SIZE.txt uses it, "
                        f"another is cut from the largest (whole lines)")
    p.add_argument("--quick", action="store_true",
                   help=f"a smoke test: sizes {QUICK_SIZES}, cut from the first 8 MB of "
                        f"corpora/*.txt, --vocab-size 8000 and --max-memory 64M")
    p.add_argument("--corpus-dir", type=Path, default=SCALE_DIR,
                   help="the folder of scale-SIZE.txt (default: corpora/scale/)")
    p.add_argument("--vocab-size", type=int, default=None,
                   help="vocabulary size of every model (default: 32000; 8000 with --quick, "
                        "as 4 MB do not give SentencePiece unigram 32000)")
    p.add_argument("--workers", type=int, default=2,
                   help="workers or threads of every trainer (default: %(default)s)")
    p.add_argument("--max-memory", default=None,
                   help="bytepiece's --max-memory in the second run (default: 1G; 64M with "
                        "--quick)")
    p.add_argument("--timeout", type=float, default=3600,
                   help="seconds after which a trainer is killed (default: %(default)g)")
    p.add_argument("--memory-limit", default=None,
                   help="RSS of a trainer's process tree at which it is killed, like 16G "
                        "(default: 80%% of this machine's memory), so that no trainer brings "
                        "the OOM killer onto other work")
    p.add_argument("--reference-max", default="256M",
                   help="train BytePiece 0.6.3 only on sizes up to this (default: %(default)s)")
    p.add_argument("--reference-python", default=None,
                   help="interpreter of the venv holding BytePiece 0.6.3 (found as for train.py)")
    p.add_argument("--skip", action="append", default=[], metavar="PEER",
                   help="leave out a trainer (shown as skipped): " + ", ".join(list(PEERS)[1:])
                        + "; repeat or separate with commas")
    p.add_argument("--interval", type=float, default=0.05,
                   help="seconds between memory samples (default: %(default)s)")
    p.add_argument("--disk-interval", type=float, default=0.2,
                   help="seconds between samples of the size of bytepiece's --tmp-dir "
                        "(default: %(default)s)")
    p.add_argument("--output", type=Path, default=None,
                   help="the report, FILE.md (default: benchmarks/results/scale.md; "
                        "benchmarks/work/quick/scale.md with --quick)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="also write every figure as JSON")
    p.add_argument("--keep", action="store_true",
                   help="keep the models and temporary folders (benchmarks/work/scale-*/)")
    args = p.parse_args(argv)
    args.skip = {s.strip() for item in args.skip for s in item.split(",") if s.strip()}
    if args.skip - set(list(PEERS)[1:]):
        p.error(f"--skip takes {', '.join(list(PEERS)[1:])}")
    try:
        args.sizes = sorted({label.strip().upper(): parse_size(label) for label in
                             (args.sizes or (QUICK_SIZES if args.quick else SIZES)).split(",")
                             if label.strip()}.items(), key=lambda item: item[1])
        args.reference_max = parse_size(args.reference_max)
    except ValueError as e:
        p.error(str(e))
    if not args.sizes or (args.vocab_size or 259) < 259 or args.workers < 1 or args.timeout <= 0:
        p.error("--sizes must be given, --vocab-size at least 259, --workers at least 1, "
                "--timeout positive")
    args.max_memory = args.max_memory or ("64M" if args.quick else "1G")
    args.vocab_size = args.vocab_size or (8000 if args.quick else 32000)
    try:
        args.memory_limit = (_binary_size(args.memory_limit) if args.memory_limit
                             else int(0.8 * _total_memory()))
    except ValueError as e:
        p.error(f"--memory-limit: {e}")
    args.output = args.output or (QUICK_RESULTS if args.quick else RESULTS)
    return args


def _binary_size(text: str) -> int:
    """Bytes of 16G or 500M in powers of 1024, as bytepiece's --max-memory reads them.

    >>> _binary_size("16G"), _binary_size("0.5k")
    (17179869184, 512)
    """
    unit = text.strip()[-1:].upper()
    return round(parse_size(text) / UNITS[unit] * 1024 ** ("KMG".index(unit) + 1))


def _total_memory() -> int:
    import psutil

    return psutil.virtual_memory().total


# -- the corpus files ------------------------------------------------------------

def _builder():
    """corpora/build_scale_corpus.py as a module: its prefix cutting is used here too."""
    sys.path.insert(0, str(CORPORA))
    try:
        import build_scale_corpus
    finally:
        sys.path.remove(str(CORPORA))
    return build_scale_corpus


def quick_source(folder: Path, nbytes: int = QUICK_SOURCE_BYTES) -> Path:
    """The first ``nbytes`` of corpora/*.txt (sorted by name) concatenated, cut back to a
    newline, written to folder/quick-source.txt: the text --quick cuts its sizes from."""
    out = folder / "quick-source.txt"
    with open(out, "wb") as f:
        for path in sorted(CORPORA.glob("*.txt")):
            left = nbytes + 1 - f.tell()  # one byte more: a line cut short is cut off
            if left <= 0:
                break
            data = path.read_bytes()[:left]
            whole_file_without_newline = len(data) < left and not data.endswith(b"\n")
            f.write(data + b"\n" if whole_file_without_newline else data)
    with open(out, "r+b") as f:
        f.truncate(_builder().cut_point(f, nbytes))
    return out


def corpus_files(sizes: list[tuple[str, int]], corpus_dir: Path, folder: Path,
                 source: Path | None = None) -> dict[str, Path]:
    """{size label: file}: corpus_dir/scale-LABEL.txt where it exists (and ``source`` is not
    given), else the longest prefix of whole lines of ``source`` (default: the largest
    scale-*.txt) within the size, written into ``folder``."""
    builder, files = _builder(), {}
    for label, size in sizes:
        built = corpus_dir / f"scale-{label}.txt"
        if source is None and built.is_file():
            files[label] = built
            continue
        src = source or _largest(corpus_dir)
        with open(src, "rb") as f:
            cut = builder.cut_point(f, size)
        if cut < 0.9 * size:
            raise SystemExit(f"{src} has only {cut / MB:.1f} MB of whole lines, less than "
                             f"{label} ({size / MB:g} MB)")
        files[label] = folder / f"scale-{label}.txt"
        builder.copy_prefix(src, files[label], cut)
    return files


def _largest(corpus_dir: Path) -> Path:
    found = sorted(corpus_dir.glob("scale-*.txt"), key=lambda p: p.stat().st_size)
    if not found:
        raise SystemExit(f"no corpus in {corpus_dir}: build it with "
                         f"`python corpora/build_scale_corpus.py` (about 1 minute and 5.3 GB; "
                         f"Debian's package archive must be reachable), or use --quick")
    return found[-1]


# -- measuring a command with limits ---------------------------------------------

@dataclass
class Outcome:
    """A command's end: wall time, the peaks of its tree's RSS and of a folder's size,
    what was left in the folder, its stderr, and ``killed`` ("timeout" or "memory") if it
    was stopped."""

    wall: float
    peak_rss: int
    returncode: int | None
    stderr: str
    peak_disk: int | None = None
    left_disk: int | None = None
    killed: str | None = None


def folder_size(path: Path | None) -> int | None:
    """Bytes allocated on disk to the files under ``path`` (files vanishing meanwhile are
    skipped); None without a folder."""
    if path is None:
        return None
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass
    return total


def run_limited(argv: list[str], env: dict, cwd: Path, *, interval: float, timeout: float,
                memory_limit: int, watch: Path | None = None,
                disk_interval: float = 0.2) -> Outcome:
    """Run a command to its end, as train.run_measured does (wall time; RSS of the process
    tree every ``interval`` s), also sampling the size of the folder ``watch`` every
    ``disk_interval`` s; kill the whole tree past ``timeout`` s or ``memory_limit`` bytes."""
    import psutil

    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)  # its own group: killed as a whole
        peak, peak_disk, killed, done = 0, folder_size(watch), None, threading.Event()

        def sample():
            nonlocal peak, peak_disk, killed
            try:
                root = psutil.Process(proc.pid)
            except psutil.Error:
                return
            next_disk = 0.0
            while not done.is_set():
                peak = max(peak, tree_rss(root))
                if peak > memory_limit and killed is None and root.is_running():
                    killed = "memory"  # is_running: not yet reaped, so the group is its
                    _kill_group(proc)
                if watch is not None and time.perf_counter() >= next_disk:
                    peak_disk = max(peak_disk, folder_size(watch))
                    next_disk = time.perf_counter() + disk_interval
                done.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            killed = killed or "timeout"
            _kill_group(proc)
            returncode = proc.wait()
        except BaseException:
            _kill_group(proc)
            raise
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        err.seek(0)
        stderr = err.read().decode("utf-8", errors="replace")
    left = folder_size(watch)
    if left is not None:
        peak_disk = max(peak_disk, left)
    return Outcome(wall, peak, returncode, stderr, peak_disk, left, killed)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# -- the trainers ----------------------------------------------------------------

@dataclass
class ScaleTrainer(Trainer):
    """A trainer of train.py's kind, with the folder it may use for temporary files."""

    tmp: Path | None = None


def trainers(args, label: str, size: int, corpus: Path,
             folder: Path) -> list[ScaleTrainer | tuple[str, Missing]]:
    """Every trainer of PEERS for one corpus size, writing into ``folder``, or (key,
    Missing) for one that cannot run there."""
    n, w, out = args.vocab_size, args.workers, []
    import bytepiece

    bp_version = getattr(bytepiece, "__version__", "?")
    for key, limit in (("bytepiece", None), ("bytepiece-limited", args.max_memory)):
        if key in args.skip:
            out.append((key, Missing(f"left out with --skip {key}", "skipped")))
            continue
        model, tmp = folder / f"{key}.json", folder / f"tmp-{key}"
        extra = ["--max-memory", limit] if limit else []
        shown = " ".join(["bytepiece train CORPUS -o MODEL --vocab-size", str(n), "--workers",
                          str(w), "--tmp-dir", "TMP", *extra])
        out.append(ScaleTrainer(
            key, PEERS[key] + (f" {limit}" if limit else ""),
            [sys.executable, "-m", "bytepiece", "train", str(corpus), "-o", str(model),
             "--vocab-size", str(n), "--workers", str(w), "--tmp-dir", str(tmp), *extra],
            model, "bytepiece", bp_version, f"`{shown}` (order 6, min count 2)", tmp=tmp))

    hf = _peers.import_tokenizers()
    if "hf-bpe" in args.skip:
        out.append(("hf-bpe", Missing("left out with --skip hf-bpe", "skipped")))
    elif isinstance(hf, Missing):
        out.append(("hf-bpe", hf))
    else:
        out.append(ScaleTrainer(
            "hf-bpe", PEERS["hf-bpe"],
            [sys.executable, "-c", HF_SCRIPT, str(folder / "hf-bpe.json"), str(n), str(corpus)],
            folder / "hf-bpe.json", "tokenizers", hf.__version__,
            f"train.py's script: `BpeTrainer(vocab_size={n}, min_frequency=2, initial_alphabet="
            f"ByteLevel.alphabet())` with the ByteLevel pre-tokenizer; RAYON_NUM_THREADS={w}",
            env={"RAYON_NUM_THREADS": str(w)}))

    spm = _peers.import_sentencepiece()
    for model_type in ("bpe", "unigram"):
        key = f"sp-{model_type}"
        if key in args.skip or isinstance(spm, Missing):
            out.append((key, spm if isinstance(spm, Missing) else
                        Missing(f"left out with --skip {key}", "skipped")))
            continue
        prefix = folder / key
        options = dict(model_prefix=str(prefix), vocab_size=n, model_type=model_type,
                       num_threads=w, minloglevel=2, **SCALE_SENTENCEPIECE_OPTIONS)
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items()
                          if k not in ("model_prefix", "minloglevel"))
        out.append(ScaleTrainer(
            key, PEERS[key],
            [sys.executable, "-c", SENTENCEPIECE_SCRIPT, json.dumps(options), str(corpus)],
            prefix.with_suffix(".model"), "sentencepiece", _version("sentencepiece"),
            f"`SentencePieceTrainer.train(sentence_iterator=lines, {shown})`"))

    ref = reference_trainer(args, label, size, corpus, folder)
    out.append(ref if isinstance(ref, ScaleTrainer) else ("reference", ref))
    return out


def reference_trainer(args, label: str, size: int, corpus: Path,
                      folder: Path) -> ScaleTrainer | Missing:
    """BytePiece 0.6.3's trainer at this size, or why it does not run."""
    if "reference" in args.skip:
        return Missing("left out with --skip reference", "skipped")
    if size > args.reference_max:
        return Missing(f"BytePiece 0.6.3 trains at about 0.1 MB/s: it runs only up to "
                       f"--reference-max ({label} is larger)", "skipped: too slow")
    python = _peers.reference_python(args.reference_python)
    version = _peers.check_reference(python)
    if isinstance(version, Missing):
        return version
    model = folder / "reference.json"
    return ScaleTrainer(
        "reference", PEERS["reference"],
        _peers.reference_training_command(python, model, [corpus], args.vocab_size,
                                          workers=args.workers),
        model, "bytepiece", f"{version} ({python})",
        f"`Trainer(order=6, max_vocab_size={args.vocab_size}, min_count=2).train(lines, "
        f"workers={args.workers})`")


def run_trainer(args, item: ScaleTrainer, nbytes: int, folder: Path) -> dict | Missing:
    """Run one trainer, measured; a dict of its figures, or Missing if it failed."""
    if item.tmp is not None:
        item.tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUTF8="1", **item.env)
    run = run_limited(item.argv, env, folder, interval=args.interval, timeout=args.timeout,
                      memory_limit=args.memory_limit, watch=item.tmp,
                      disk_interval=args.disk_interval)
    figures = {
        "label": item.label, "version": item.version, "settings": item.settings,
        "wall_seconds": run.wall, "peak_rss_mb": run.peak_rss / MiB, "bytes": nbytes,
        "tmp_peak_mb": None if run.peak_disk is None else run.peak_disk / MiB,
        "tmp_left_mb": None if run.left_disk is None else run.left_disk / MiB,
        "model": str(item.model), "last_stderr": _peers._last_line(run.stderr),
        "summary": summary(run.stderr),
    }
    if run.killed:
        figures["killed"] = run.killed
        figures["limit"] = args.timeout if run.killed == "timeout" else args.memory_limit
        log(f"  killed: {killed_label(figures)}")
        return figures
    if run.returncode != 0 or not item.model.is_file():
        reason = figures["last_stderr"] if run.returncode else "it wrote no model"
        log(f"  failed (status {run.returncode}): {reason}")
        return Missing(f"failed (status {run.returncode}): {reason}", "failed: " + _short(reason))
    log(f"  {run.wall:.1f} s, peak RSS {run.peak_rss / MiB:.0f} MiB"
        + (f", tmp {run.peak_disk / MiB:.0f} MiB" if run.peak_disk is not None else ""))
    return figures


def summary(stderr: str) -> str:
    """bytepiece's summary, the lines from its last "trained on ..." on, joined; else the
    last line.

    >>> summary("progress\\ntrained on 4 MB in 3s\\nmemory budget 64 MB\\n")
    'trained on 4 MB in 3s; memory budget 64 MB'
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.startswith("trained on")]
    return "; ".join(lines[starts[-1]:]) if starts else _peers._last_line(stderr)


def train_size(args, label: str, size: int, corpus: Path, folder: Path) -> dict:
    """Every trainer on one corpus file, one after the other: {key: figures or Missing},
    with the comparisons of the models made."""
    nbytes = corpus.stat().st_size
    results = {}
    for item in trainers(args, label, size, corpus, folder):
        if isinstance(item, tuple):
            results[item[0]] = item[1]
            continue
        log(f"{label}: {item.label} ...")
        results[item.key] = run_trainer(args, item, nbytes, folder)
    compare(results)
    return results


def compare(results: dict) -> None:
    """Mark whether bytepiece's two models are byte-identical, and whether BytePiece
    0.6.3's holds the same pieces and counts as bytepiece's."""
    base = results.get("bytepiece")
    if not _finished(base):
        return
    limited, ref = results.get("bytepiece-limited"), results.get("reference")
    if _finished(limited):
        limited["identical"] = (Path(base["model"]).read_bytes()
                                == Path(limited["model"]).read_bytes())
    if _finished(ref):
        same = compare_models(Path(base["model"]), Path(ref["model"]))
        ref["identical"] = same["same_pieces_and_counts"]


def _finished(result) -> bool:
    return isinstance(result, dict) and "killed" not in result


# -- report ----------------------------------------------------------------------

def killed_label(result: dict) -> str:
    """The cell of a trainer that was stopped.

    >>> killed_label({"killed": "timeout", "limit": 3600})
    'over 3600 s'
    >>> killed_label({"killed": "memory", "limit": 19 * 2**30})
    'over 19.0 GiB RSS'
    >>> killed_label({"killed": "memory", "limit": 200 * 2**20})
    'over 200 MiB RSS'
    """
    if result["killed"] == "timeout":
        return f"over {result['limit']:g} s"
    if result["limit"] < 2**30:
        return f"over {result['limit'] / MiB:.0f} MiB RSS"
    return f"over {result['limit'] / 2**30:.1f} GiB RSS"


def _short(text: str, limit: int = 100) -> str:
    """A message fit for a table cell: one line, no pipes, at most ``limit`` characters.

    >>> _short("a | b"), _short("x" * 8, 5)
    ('a / b', 'xxxx…')
    """
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def identical_cell(key: str, result: dict) -> str:
    """yes/no for a model compared with bytepiece's default one, else a dash.

    >>> identical_cell("bytepiece-limited", {"identical": True}), identical_cell("hf-bpe", {})
    ('yes', '–')
    """
    if "identical" not in result:
        return "–"
    yes = "yes" if result["identical"] else "no"
    return f"same pieces and counts: {yes}" if key == "reference" else yes


def row(label: str, key: str, result, base) -> list[str]:
    """One line of the table for one trainer at one size."""
    if isinstance(result, Missing):
        return [label, PEERS.get(key, key), str(result)] + ["–"] * 5
    name = result["label"]
    tmp = "–" if result["tmp_peak_mb"] is None else f"{result['tmp_peak_mb']:.0f}"
    rate = result["bytes"] / MB / result["wall_seconds"]
    if "killed" in result:  # its figures are bounds: it ran at least this long
        timeout = result["killed"] == "timeout"
        ratio = (f"> {result['wall_seconds'] / base['wall_seconds']:.1f}x"
                 if timeout and _finished(base) else "–")
        return [label, name, killed_label(result), f"{result['peak_rss_mb']:.0f}", tmp,
                f"< {rate:.2f}" if timeout else "–", ratio, "–"]
    ratio = f"{result['wall_seconds'] / base['wall_seconds']:.2f}x" if _finished(base) else "–"
    return [label, name, f"{result['wall_seconds']:.1f}", f"{result['peak_rss_mb']:.0f}", tmp,
            f"{rate:.2f}", ratio, identical_cell(key, result)]


def results_table(runs: dict[str, dict]) -> list[str]:
    """The markdown table: a row per size and trainer, every one shown, even without a figure.

    >>> runs = {"4M": {"bytepiece": {"label": "bytepiece (default)", "wall_seconds": 2.0,
    ...     "peak_rss_mb": 300.0, "tmp_peak_mb": 5.0, "bytes": 4 * MB},
    ...     "sp-bpe": Missing("no module")}}
    >>> results_table(runs)[2:]
    ['| 4M | bytepiece (default) | 2.0 | 300 | 5 | 2.00 | 1.00x | – |', \
'| 4M | SentencePiece BPE | missing | – | – | – | – | – |']
    """
    header = ["corpus size", "system", "wall s", "peak RSS MiB", "tmp disk MiB", "MB/s",
              "time vs bytepiece (default)", "identical models"]
    rows = []
    for label, results in runs.items():
        base = results.get("bytepiece")
        rows += [row(label, key, result, base) for key, result in results.items()]
    return table(header, rows)


def notes(runs: dict[str, dict]) -> list[str]:
    """Why each trainer without a figure has none, and bytepiece's own summary lines."""
    out = []
    for label, results in runs.items():
        for key, r in results.items():
            if isinstance(r, Missing):
                why = r.reason if r.label.startswith("failed") else f"{r.label}: {r.reason}"
                out.append(f"- {label}, {PEERS[key]}: {why}")
            elif "killed" in r:
                out.append(f"- {label}, {r['label']}: killed, {killed_label(r)}; its last "
                           f"line on stderr: {r['last_stderr']}")
            elif key.startswith("bytepiece"):
                left = r.get("tmp_left_mb")
                out.append(f"- {label}, {r['label']}: `{r['summary']}`"
                           + (f" (left {left:.1f} MB in its --tmp-dir)" if left else ""))
    return out


def render(args, info: dict, runs: dict) -> str:
    sizes = ", ".join(f"{label} ({info['files'][label]['bytes']:,} bytes)"
                      for label, _ in args.sizes)
    lines = [
        "## Training at corpus scale",
        "",
        f"{args.vocab_size} pieces, {args.workers} workers, on {sizes} of {info['corpus']}; "
        f"each trainer in a subprocess of its own, one after the other. Wall time includes "
        f"the interpreter's start-up; peak RSS is summed over the process tree, sampled every "
        f"{args.interval * 1000:.0f} ms; tmp disk is the peak size of bytepiece's --tmp-dir, "
        f"sampled every {args.disk_interval:g} s. A trainer is killed after {args.timeout:g} s "
        f"or at {args.memory_limit / 2**30:.1f} GiB of RSS. Corpus sizes and MB/s count 10^6 "
        f"bytes; memory and disk MiB, 2^20 (as train.md's MB).",
        "",
    ]
    lines += results_table(runs)
    lines += ["", "time vs bytepiece (default): the trainer's wall time over bytepiece's with "
                  "its default memory budget, at the same size. identical models: bytepiece "
                  f"with --max-memory {args.max_memory} against its default run, byte for "
                  "byte; BytePiece 0.6.3 against bytepiece's pieces and counts."]
    more = notes(runs)
    if more:
        lines += ["", "Notes:", ""] + more
    lines += footer(info, {r["label"]: r["settings"] for results in runs.values()
                           for r in results.values() if isinstance(r, dict)})
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------

def main(argv=None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    require_psutil()
    cores = os.cpu_count() or 1
    load_start, capacity_start = os.getloadavg()[0], parallel_capacity(cores)
    WORK.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="scale-", dir=WORK))
    runs: dict[str, dict] = {}
    try:
        source = quick_source(folder) if args.quick else None
        files = corpus_files(args.sizes, args.corpus_dir, folder, source)
        file_info = {label: {"path": os.path.relpath(path, ROOT),
                             "bytes": path.stat().st_size} for label, path in files.items()}
        warm = warm_up_bytepiece(args.workers)
        for label, size in args.sizes:
            where = folder / label
            where.mkdir()
            log(f"{label}: {files[label]} ({files[label].stat().st_size:,} bytes)")
            runs[label] = train_size(args, label, size, files[label], where)
            if not args.keep:
                shutil.rmtree(where, ignore_errors=True)
        disk_free = shutil.disk_usage(folder).free
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    import bytepiece
    import numba

    versions = {r["label"]: r["version"] for results in runs.values()
                for r in results.values() if isinstance(r, dict)}
    info = {
        "corpus": ("the first 8 MB of corpora/*.txt (--quick)" if args.quick else
                   f"`{os.path.relpath(args.corpus_dir, ROOT)}/` (corpora/build_scale_corpus.py"
                   f"; check with its --check)"),
        "files": file_info,
        "command": command_line("benchmarks/scale.py", argv),
        "setup": {
            **machine(cores),
            "memory": f"{_total_memory() / 2**30:.1f} GiB; free disk at the end in "
                      f"benchmarks/work/: {disk_free / 2**30:.0f} GiB",
            "load average (1 min) at start, end": load_average(load_start),
            "cores available at start, end": f"{capacity_start:.2f}, "
                                             f"{parallel_capacity(cores):.2f} of {cores}",
            "bytepiece": f"{getattr(bytepiece, '__version__', '?')} (numba "
                         f"{numba.__version__}); warm-up run before timing, so the kernels "
                         f"come from numba's cache: {warm:.1f} s",
            **{label: v for label, v in versions.items() if not label.startswith("bytepiece")},
            "psutil": _version("psutil"),
        },
    }
    info["elapsed"] = time.perf_counter() - started
    report = render(args, info, runs)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report + "\n", encoding="utf-8")
    log(f"wrote {args.output}")
    if args.json:
        data = {"info": info, "runs": {
            label: {k: ({"missing": r.label, "reason": r.reason} if isinstance(r, Missing)
                        else r) for k, r in results.items()} for label, results in runs.items()}}
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
