"""Training time, memory and compression of bytepiece against other tokenizer trainers.

One run, the same text for every trainer: the first 90% of the lines of
corpora/{zh,en,code}.txt (about 12 MB). Each trainer (bytepiece's command,
BytePiece 0.6.3, SentencePiece unigram and BPE, Hugging Face tokenizers'
byte-level BPE) trains a 32000-piece vocabulary with 2 workers in a subprocess
of its own, whose wall time and peak memory (RSS summed over the process and its
children, sampled every 50 ms) are measured. Then every model encodes the
held-out last 10% of the lines of each corpus: bytes per token (UTF-8 bytes of
the original text) and whether decoding gives the text back; and bytepiece's
model is compared with BytePiece 0.6.3's, piece by piece.

    python benchmarks/train.py             # about 3 minutes; writes benchmarks/results/train.md
    python benchmarks/train.py --quick     # 1 MB of each corpus, vocabulary 8000: a smoke test

Corpus parts and models go to a folder of the run's own, benchmarks/work/train-*/
(git-ignored), removed at the end unless --keep. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import _peers
from _peers import Missing
from _report import command_line, footer, load_average, log, machine, require_psutil
from encode import first_megabytes, parallel_capacity, read_lines, table, utf8_size

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPORA = ROOT / "corpora"
WORK = HERE / "work"
RESULTS = HERE / "results" / "train.md"
CORPUS_NAMES = ("zh", "en", "code")
MB = 1_000_000

#: (key for --skip, label in the table), in the order they run
PEERS = {
    "bytepiece": "bytepiece",
    "bytepiece-unigram": "bytepiece unigram",
    "reference": "BytePiece 0.6.3",
    "sp-unigram": "SentencePiece unigram",
    "sp-bpe": "SentencePiece BPE",
    "hf-bpe": "tokenizers byte-level BPE",
}

#: trainers run only by a benchmark that names them in ``args.include`` (compression.py)
OPT_IN = {"bytepiece-unigram"}

#: Lossless SentencePiece settings (as in _peers, used by encode.py) with every character
#: kept (byte fallback covers the rest anyway) and lines up to 1 MiB trained on.
SENTENCEPIECE_OPTIONS = dict(_peers.SENTENCEPIECE_LOSSLESS, character_coverage=1.0,
                             max_sentence_length=1 << 20, train_extremely_large_corpus=False)

SENTENCEPIECE_SCRIPT = """\
import json, sys
import sentencepiece as spm
options, files = json.loads(sys.argv[1]), sys.argv[2:]
def lines():
    for name in files:
        with open(name, encoding="utf-8") as f:
            yield from f
spm.SentencePieceTrainer.train(sentence_iterator=lines(), **options)
"""

HF_SCRIPT = """\
import sys
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
out, vocab_size, *files = sys.argv[1:]
tokenizer = Tokenizer(models.BPE())
tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tokenizer.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=int(vocab_size), min_frequency=2, show_progress=False,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
tokenizer.train(files, trainer)
tokenizer.save(out)
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vocab-size", type=int, default=None,
                   help="vocabulary size of every model (default: 32000; 8000 with --quick)")
    p.add_argument("--max-mb", type=float, default=None,
                   help="cut each corpus to its first MB megabytes (whole lines) before "
                        "holding out its end (default: all of it, about 12 MB of training "
                        "text in all; 1 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="a small run for smoke testing: --max-mb 1 --vocab-size 8000")
    p.add_argument("--holdout", type=float, default=0.1,
                   help="fraction of each corpus's lines, at its end, held out for "
                        "compression (default: %(default)s)")
    p.add_argument("--workers", type=int, default=2,
                   help="workers or threads of every trainer (default: %(default)s)")
    p.add_argument("--skip", action="append", default=[], metavar="PEER",
                   help="leave out a trainer (shown as skipped): "
                        + ", ".join(k for k in PEERS if k != "bytepiece" and k not in OPT_IN)
                        + "; repeat or separate with commas")
    p.add_argument("--reference-python", default=None,
                   help="interpreter of the venv holding BytePiece 0.6.3 (default: "
                        "$BYTEPIECE_REFERENCE_PYTHON, else benchmarks/work/bytepiece-0.6.3 "
                        "if install_peers.sh made it, else " + _peers.DEFAULT_REFERENCE_PYTHON + ")")
    p.add_argument("--interval", type=float, default=0.05,
                   help="seconds between memory samples (default: %(default)s)")
    p.add_argument("--output", type=Path, default=None,
                   help="write the report to FILE.md (default: " + str(RESULTS.relative_to(ROOT))
                        + " for a run with the default sizes, else nowhere)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="also write every figure as JSON")
    p.add_argument("--keep", action="store_true",
                   help="keep the corpus parts and models (benchmarks/work/train-*/)")
    args = p.parse_args(argv)
    args.skip = {s.strip() for item in args.skip for s in item.split(",") if s.strip()}
    skippable = [k for k in PEERS if k != "bytepiece" and k not in OPT_IN]
    unknown = args.skip - set(skippable)
    if unknown:
        p.error(f"--skip takes {', '.join(skippable)}, not {', '.join(sorted(unknown))}")
    default_size = args.vocab_size is None and args.max_mb is None and not args.quick
    if args.vocab_size is None:
        args.vocab_size = 8000 if args.quick else 32000
    if args.max_mb is None and args.quick:
        args.max_mb = 1.0
    if args.output is None and default_size:
        args.output = RESULTS
    if args.vocab_size < 259 or args.workers < 1 or not 0 < args.holdout < 1:
        p.error("--vocab-size must be at least 259, --workers at least 1, "
                "--holdout between 0 and 1")
    return args


# -- inputs ----------------------------------------------------------------------

def split_lines(lines: list[str], holdout: float) -> tuple[list[str], list[str]]:
    """(training lines, held-out lines): the last ``holdout`` fraction of the lines is held out.

    >>> split_lines(["a\\n", "b\\n", "c\\n", "d\\n"], 0.25)
    (['a\\n', 'b\\n', 'c\\n'], ['d\\n'])
    """
    n_held = max(1, round(len(lines) * holdout))
    return lines[:len(lines) - n_held], lines[len(lines) - n_held:]


def prepare_corpora(args, folder: Path) -> tuple[dict[str, Path], dict[str, list[str]],
                                                 dict[str, int]]:
    """Write each corpus's training part to folder/NAME.txt; return (paths, held-out lines,
    training bytes). With --max-mb each corpus is first cut to its first lines."""
    parts = {}
    for name in CORPUS_NAMES:
        path = CORPORA / f"{name}.txt"
        if not path.is_file():
            raise SystemExit(f"no corpus {path}")
        parts[name] = split_lines(first_megabytes(read_lines(path), args.max_mb), args.holdout)
    paths, heldout, sizes = {}, {}, {}
    for name, (train, held) in parts.items():
        paths[name] = folder / f"{name}.txt"
        data = "".join(train).encode("utf-8")
        paths[name].write_bytes(data)
        heldout[name], sizes[name] = held, len(data)
    return paths, heldout, sizes


# -- measuring a command ---------------------------------------------------------

@dataclass
class Run:
    """A finished command: wall time, the peak of its process tree's summed RSS, its stderr."""

    wall: float
    peak_rss: int
    returncode: int
    stderr: str


def tree_rss(root) -> int:
    """Resident bytes of a process and all its descendants, summed (0 once it is gone).

    Pages shared between processes (a forked worker's copy of its parent) count in
    each: for a pool of forked workers this overstates the memory a little.
    """
    import psutil

    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:  # exited meanwhile
            pass
    return total


def run_measured(argv: list[str], env: dict, cwd: Path, interval: float) -> Run:
    """Run a command to its end, timing it and sampling its tree's RSS every ``interval`` s.

    A thread samples while this one blocks in wait(), so the wall time is exact;
    a peak shorter than the interval can be missed.
    """
    import psutil

    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        peak, done = 0, threading.Event()

        def sample():
            nonlocal peak
            try:
                root = psutil.Process(proc.pid)
            except psutil.Error:
                return
            while not done.is_set():
                peak = max(peak, tree_rss(root))
                done.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            returncode = proc.wait()
        except BaseException:
            proc.kill()
            raise
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        err.seek(0)
        stderr = err.read().decode("utf-8", errors="replace")
    return Run(wall, peak, returncode, stderr)


# -- the trainers ----------------------------------------------------------------

@dataclass
class Trainer:
    """How one system trains: its command, the model it writes, and how to load that model."""

    key: str
    label: str
    argv: list[str]
    model: Path
    kind: str  # "bytepiece" (BytePiece JSON), "sentencepiece" or "tokenizers"
    version: str
    settings: str
    env: dict = field(default_factory=dict)


def trainers(args, files: list[Path], models: Path) -> list[Trainer | tuple[str, Missing]]:
    """Every trainer of PEERS, ready to run (writing its model into ``models``), or
    (key, Missing) for one that cannot."""
    n, w = args.vocab_size, args.workers
    out = []

    import bytepiece
    bp_version = getattr(bytepiece, "__version__", "?")
    out.append(Trainer(
        "bytepiece", PEERS["bytepiece"],
        [sys.executable, "-m", "bytepiece", "train", *map(str, files), "-o",
         str(models / "bytepiece.json"), "--vocab-size", str(n), "--workers", str(w), "-q"],
        models / "bytepiece.json", "bytepiece", bp_version,
        f"`python -m bytepiece train FILES -o MODEL --vocab-size {n} --workers {w} -q` "
        f"(order 6, min count 2)"))

    if "bytepiece-unigram" in getattr(args, "include", ()):
        key, model = "bytepiece-unigram", models / "bytepiece-unigram.json"
        if key in args.skip:
            out.append((key, Missing(f"left out with --skip {key}", "skipped")))
        else:
            out.append(Trainer(
                key, PEERS[key],
                [sys.executable, "-m", "bytepiece", "train", *map(str, files), "-o", str(model),
                 "--vocab-size", str(n), "--workers", str(w), "-q", "--algorithm", "unigram"],
                model, "bytepiece", bp_version,
                f"`python -m bytepiece train FILES -o MODEL --vocab-size {n} --workers {w} -q "
                f"--algorithm unigram`"))

    if "reference" in args.skip:
        out.append(("reference", Missing("left out with --skip reference", "skipped")))
    else:
        python = _peers.reference_python(args.reference_python)
        version = _peers.check_reference(python)
        if isinstance(version, Missing):
            out.append(("reference", version))
        else:
            out.append(Trainer(
                "reference", PEERS["reference"],
                _peers.reference_training_command(python, models / "reference.json", files, n,
                                                  workers=w),
                models / "reference.json", "bytepiece", f"{version} ({python})",
                f"`Trainer(order=6, max_vocab_size={n}, min_count=2).train(lines, "
                f"workers={w})`, lines read from the files"))

    spm = _peers.import_sentencepiece()
    for model_type in ("unigram", "bpe"):
        key = f"sp-{model_type}"
        if key in args.skip:
            out.append((key, Missing(f"left out with --skip {key}", "skipped")))
            continue
        if isinstance(spm, Missing):
            out.append((key, spm))
            continue
        prefix = models / key
        options = dict(model_prefix=str(prefix), vocab_size=n, model_type=model_type,
                       num_threads=w, minloglevel=2, **SENTENCEPIECE_OPTIONS)
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items()
                          if k not in ("model_prefix", "minloglevel"))
        out.append(Trainer(
            key, PEERS[key],
            [sys.executable, "-c", SENTENCEPIECE_SCRIPT, json.dumps(options), *map(str, files)],
            prefix.with_suffix(".model"), "sentencepiece", _version("sentencepiece"),
            f"`SentencePieceTrainer.train(sentence_iterator=lines, {shown})`, "
            f"lines with their newline"))

    hf = _peers.import_tokenizers()
    if "hf-bpe" in args.skip:
        out.append(("hf-bpe", Missing("left out with --skip hf-bpe", "skipped")))
    elif isinstance(hf, Missing):
        out.append(("hf-bpe", hf))
    else:
        out.append(Trainer(
            "hf-bpe", PEERS["hf-bpe"],
            [sys.executable, "-c", HF_SCRIPT, str(models / "hf-bpe.json"), str(n),
             *map(str, files)],
            models / "hf-bpe.json", "tokenizers", hf.__version__,
            f"`models.BPE()` with the `ByteLevel(add_prefix_space=False)` pre-tokenizer and "
            f"decoder, `BpeTrainer(vocab_size={n}, min_frequency=2, "
            f"initial_alphabet=ByteLevel.alphabet())`, `Tokenizer.train(files)`; "
            f"RAYON_NUM_THREADS={w}", env={"RAYON_NUM_THREADS": str(w)}))
    return out


def warm_up_bytepiece(workers: int, algorithm: str = "bytepiece") -> float:
    """Train a tiny model once so numba's kernels are compiled (or loaded from its
    cache) before the timed run, as they are for anyone past their first run."""
    with tempfile.TemporaryDirectory(prefix="bytepiece-warm-") as tmp:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "bytepiece", "train", str(CORPORA / "tiny" / "en.txt"),
             str(CORPORA / "tiny" / "zh.txt"), "-o", os.path.join(tmp, "m.json"),
             "--vocab-size", "300", "--workers", str(workers), "-q", "--algorithm", algorithm],
            capture_output=True, text=True, cwd=tmp)
        if proc.returncode != 0:
            raise SystemExit(f"bytepiece train fails: {proc.stderr.strip()[-500:]}")
        return time.perf_counter() - t0


def train_all(args, files: list[Path], folder: Path) -> dict[str, dict | Missing]:
    """Run every trainer in turn (never two at once), in ``folder``; key -> result or Missing."""
    results: dict[str, dict | Missing] = {}
    env = dict(os.environ, PYTHONUTF8="1")
    for item in trainers(args, files, folder):
        if isinstance(item, tuple):
            results[item[0]] = item[1]
            continue
        log(f"training: {item.label} ...")
        run = run_measured(item.argv, dict(env, **item.env), folder, args.interval)
        if run.returncode != 0 or not item.model.is_file():
            reason = _peers._last_line(run.stderr) if run.returncode else "it wrote no model"
            results[item.key] = Missing(f"{item.label} failed (status {run.returncode}): "
                                        f"{reason}", "failed")
            continue
        log(f"  {run.wall:.1f} s, peak RSS {run.peak_rss / 2**20:.0f} MB")
        results[item.key] = {
            "label": item.label, "version": item.version, "settings": item.settings,
            "wall_seconds": run.wall, "peak_rss_mb": run.peak_rss / 2**20,
            "model": str(item.model), "kind": item.kind,
        }
    return results


# -- compression -----------------------------------------------------------------

def load_encoder(kind: str, model: Path, workers: int):
    """(vocabulary size, encode(lines) -> id lists, decode(id lists) -> bytes of the text)."""
    if kind == "bytepiece":
        from bytepiece import Tokenizer

        tok = Tokenizer(str(model))
        return (tok.vocab_size, lambda lines: tok.encode_batch(lines, num_threads=workers),
                lambda ids: b"".join(map(tok.decode_bytes, ids)))
    if kind == "sentencepiece":
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(model))
        return (sp.get_piece_size(), lambda lines: sp.encode(lines, num_threads=workers),
                lambda ids: "".join(sp.decode(ids)).encode("utf-8"))
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model))
    return (tok.get_vocab_size(), lambda lines: [e.ids for e in tok.encode_batch(lines)],
            lambda ids: "".join(tok.decode_batch(ids, skip_special_tokens=False)).encode())


def measure_compression(results: dict, heldout: dict[str, list[str]], workers: int) -> None:
    """Add each model's vocabulary size, bytes per token and round trip on the held-out lines."""
    for key, result in results.items():
        if isinstance(result, Missing):
            continue
        vocab, encode, decode = load_encoder(result["kind"], Path(result["model"]), workers)
        result["vocab"], result["compression"], result["round_trip"] = vocab, {}, {}
        for name, lines in heldout.items():
            ids = encode(lines)
            original = "".join(lines).encode("utf-8")
            tokens = sum(map(len, ids))
            result["compression"][name] = {"bytes": len(original), "tokens": tokens}
            result["round_trip"][name] = decode(ids) == original


def compare_models(ours: Path, theirs: Path) -> dict:
    """Whether two BytePiece models hold the same pieces with the same counts (and ids)."""
    a = json.loads(ours.read_text(encoding="utf-8"))
    b = json.loads(theirs.read_text(encoding="utf-8"))
    counts_a = {k: v[2] for k, v in a.items()}
    counts_b = {k: v[2] for k, v in b.items()}
    shared = counts_a.keys() & counts_b.keys()
    return {
        "same_pieces_and_counts": counts_a == counts_b,
        "same_ids": a == b or {k: v[0] for k, v in a.items()} == {k: v[0] for k, v in b.items()},
        "same_file": ours.read_bytes() == theirs.read_bytes(),
        "pieces": [len(a), len(b)],
        "only_ours": len(counts_a.keys() - shared),
        "only_theirs": len(counts_b.keys() - shared),
        "different_counts": sum(counts_a[k] != counts_b[k] for k in shared),
    }


# -- report ----------------------------------------------------------------------

def bytes_per_token(result: dict, corpus: str | None) -> str:
    """Bytes per token of a result on one corpus, or on all of them (``None``)."""
    parts = result["compression"].values() if corpus is None else [result["compression"][corpus]]
    tokens = sum(p["tokens"] for p in parts)
    return f"{sum(p['bytes'] for p in parts) / tokens:.3f}" if tokens else "n/a"


def ratio(value: float, base: float) -> str:
    return f"{value / base:.1f}x" if base else "n/a"


def results_table(results: dict[str, dict | Missing], corpora: list[str]) -> list[str]:
    """The markdown table: one row per system, a missing one with its label in every cell.

    >>> rows = results_table({"bytepiece": {"label": "bytepiece", "wall_seconds": 2.0,
    ...     "peak_rss_mb": 100.0, "vocab": 300, "compression": {"en": {"bytes": 9,
    ...     "tokens": 3}}, "round_trip": {"en": True}}, "sp-bpe": Missing("no module")}, ["en"])
    >>> rows[2], rows[3]
    ('| bytepiece | 2.0 | 100 | 1.0x | 1.0x | 300 | 3.000 | 3.000 | yes |', \
'| SentencePiece BPE | missing | missing | – | – | – | – | – | – |')
    """
    base = results.get("bytepiece")
    header = ["system", "wall s", "peak RSS MB", "time vs bytepiece", "memory vs bytepiece",
              "vocab", *(f"bytes/token {c}" for c in corpora), "bytes/token total",
              "round-trip"]
    rows = []
    for key, result in results.items():
        label = PEERS.get(key, key)
        if isinstance(result, Missing):
            rows.append([label, str(result), str(result)] + ["–"] * (len(header) - 3))
            continue
        ok = isinstance(base, dict)
        failed = [c for c, same in result["round_trip"].items() if not same]
        rows.append([
            label, f"{result['wall_seconds']:.1f}", f"{result['peak_rss_mb']:.0f}",
            ratio(result["wall_seconds"], base["wall_seconds"]) if ok else "–",
            ratio(result["peak_rss_mb"], base["peak_rss_mb"]) if ok else "–",
            str(result["vocab"]),
            *(bytes_per_token(result, c) for c in corpora), bytes_per_token(result, None),
            "yes" if not failed else "no (" + ", ".join(failed) + ")",
        ])
    return table(header, rows)


def targets(results: dict, same: dict | Missing) -> list[str]:
    """The issue's targets, each with the figure measured and whether it is met."""
    bp, ref, spu = (results.get(k) for k in ("bytepiece", "reference", "sp-unigram"))
    lines = []

    def line(text: str, met: bool | None) -> None:
        lines.append(f"- {text}: " + ("**met**" if met else "not met" if met is not None
                                      else "not measured"))

    have_ref, have_spu = isinstance(ref, dict), isinstance(spu, dict)
    if have_ref:
        line(f"time at most 1/15 of BytePiece 0.6.3's: 1/{ref['wall_seconds'] / bp['wall_seconds']:.1f}",
             ref["wall_seconds"] / bp["wall_seconds"] >= 15)
        line(f"peak memory at most 1/3 of BytePiece 0.6.3's: "
             f"1/{ref['peak_rss_mb'] / bp['peak_rss_mb']:.1f}",
             ref["peak_rss_mb"] / bp["peak_rss_mb"] >= 3)
    else:
        line("time at most 1/15 and memory at most 1/3 of BytePiece 0.6.3's", None)
    if have_spu:
        line(f"time below SentencePiece unigram's: {bp['wall_seconds']:.1f} s against "
             f"{spu['wall_seconds']:.1f} s", bp["wall_seconds"] < spu["wall_seconds"])
        ours, theirs = bytes_per_token(bp, None), bytes_per_token(spu, None)
        line(f"compression above SentencePiece unigram's: {ours} against {theirs} bytes/token "
             f"(held-out total)", float(ours) > float(theirs))
    else:
        line("time and compression against SentencePiece unigram", None)
    line("compression equal to BytePiece 0.6.3's (same pieces and counts)",
         None if isinstance(same, Missing) else same["same_pieces_and_counts"])
    return lines


def same_model_line(same: dict | Missing) -> str:
    if isinstance(same, Missing):
        return f"**bytepiece's model equals BytePiece 0.6.3's: not checked** ({same.reason})"
    if same["same_pieces_and_counts"]:
        extra = "byte-identical files" if same["same_file"] else \
            "same ids" if same["same_ids"] else "ids differ"
        return (f"**bytepiece's model equals BytePiece 0.6.3's: yes** ({same['pieces'][0]} "
                f"pieces, same counts; {extra})")
    return (f"**bytepiece's model equals BytePiece 0.6.3's: no** ({same['pieces'][0]} against "
            f"{same['pieces'][1]} pieces; {same['only_ours']} only in bytepiece's, "
            f"{same['only_theirs']} only in 0.6.3's, {same['different_counts']} counts differ)")


def render(args, info: dict, results: dict, same: dict | Missing) -> str:
    corpora = list(CORPUS_NAMES)

    def sizes(by_name: dict[str, int]) -> str:
        return ", ".join(f"{n} {by_name[n] / MB:.2f}" for n in corpora)

    lines = [
        "## Training",
        "",
        f"{args.vocab_size} pieces trained on {info['train_mb']:.2f} MB "
        f"({sizes(info['train_sizes'])} MB: the first "
        f"{1 - args.holdout:.0%} of the lines of corpora/NAME.txt"
        + (f", each corpus cut to its first {args.max_mb:g} MB" if args.max_mb else "")
        + f") with {args.workers} workers; each trainer in a subprocess of its own, one after "
        f"the other. Wall time and peak RSS of the whole process tree (summed over the process "
        f"and its children, sampled every {args.interval * 1000:.0f} ms). Bytes/token: UTF-8 "
        f"bytes of the held-out last {args.holdout:.0%} of the lines of each corpus "
        f"({sizes(info['heldout_sizes'])} MB) over "
        f"the tokens of its lines (newlines kept), encoded one line per text. Round-trip: "
        f"decoding the ids gives the original bytes back.",
        "",
    ]
    lines += results_table(results, corpora)
    lines += ["", "time and memory vs bytepiece: the system's figure over bytepiece's (2.0x: it "
                  "takes twice bytepiece's time or memory)."]
    notes = [f"- {PEERS[k]} {r.label}: {r.reason}" for k, r in results.items()
             if isinstance(r, Missing)]
    lines += [""] + notes + ([""] if notes else [])
    lines += [same_model_line(same), "", "### Against the targets of issue 3", ""]
    lines += targets(results, same)
    lines += footer(info, {r["label"]: r["settings"] for r in results.values()
                           if isinstance(r, dict)})
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------

def main(argv=None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    require_psutil()
    cores = os.cpu_count() or 1
    load_start = os.getloadavg()[0]
    capacity_start = parallel_capacity(cores)

    # a folder of this run's own: another run at the same time cannot swap its files in
    WORK.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="train-", dir=WORK))
    try:
        files_by_name, heldout, train_sizes = prepare_corpora(args, folder)
        files = [files_by_name[n] for n in CORPUS_NAMES]
        log(f"corpus: {sum(train_sizes.values()) / MB:.2f} MB for training, "
            f"{sum(utf8_size(v) for v in heldout.values()) / MB:.2f} MB held out; "
            f"vocabulary {args.vocab_size}; files in {folder}")
        warm = warm_up_bytepiece(args.workers)

        results = train_all(args, files, folder)
        log("compression on the held-out lines ...")
        measure_compression(results, heldout, args.workers)
        bp, ref = results["bytepiece"], results.get("reference")
        if isinstance(bp, Missing):
            raise SystemExit(f"bytepiece itself failed: {bp.reason}")
        same = ref if isinstance(ref, Missing) else compare_models(Path(bp["model"]),
                                                                   Path(ref["model"]))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    import bytepiece
    import numba
    import numpy

    versions = {r["label"]: r["version"] for r in results.values() if isinstance(r, dict)}
    info = {
        "train_mb": sum(train_sizes.values()) / MB,
        "train_sizes": train_sizes,
        "heldout_sizes": {n: utf8_size(v) for n, v in heldout.items()},
        "command": command_line("benchmarks/train.py", argv),
        "setup": {
            **machine(cores),
            "load average (1 min) at start, end": load_average(load_start),
            "cores available at start, end": f"{capacity_start:.2f}, "
                                             f"{parallel_capacity(cores):.2f} of {cores} (work "
                                             f"done by {cores} busy processes, in cores; other "
                                             f"work on the machine slows every trainer)",
            "bytepiece": f"{getattr(bytepiece, '__version__', '?')} (numba {numba.__version__}, "
                         f"numpy {numpy.__version__}); warm-up run before timing, so the "
                         f"kernels come from numba's cache: {warm:.1f} s",
            **{label: version for label, version in versions.items() if label != "bytepiece"},
            "psutil": _version("psutil"),
        },
    }
    info["elapsed"] = time.perf_counter() - started
    report = render(args, info, results, same)
    print(report)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report + "\n", encoding="utf-8")
        log(f"wrote {args.output}")
    if args.json:
        data = {"args": {k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path)
                             else v) for k, v in vars(args).items()},
                "info": info, "same_model": _plain(same),
                "results": {k: _plain(v) for k, v in results.items()}}
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _plain(value):
    if isinstance(value, Missing):
        return {"missing": value.label, "reason": value.reason}
    return value


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return "?"


if __name__ == "__main__":
    main()
