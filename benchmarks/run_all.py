"""Run every benchmark, one after the other, and write benchmarks/results/*.md and *.png.

    python benchmarks/run_all.py                 # about 8 minutes on 2 cores
    python benchmarks/run_all.py --only compression,scaling
    python benchmarks/run_all.py --quick         # smoke test: small sizes, into benchmarks/work/quick/

The benchmarks (each also runs on its own, see benchmarks/README.md):

- encode.py: encoding throughput and start-up against BytePiece 0.6.3 and SentencePiece
  (results/encode.md);
- train.py: training time, memory and compression at 32000 pieces on 12 MB
  (results/train.md);
- unigram_choices.py: which knobs of --algorithm unigram compress best
  (results/unigram-choices.md);
- compression.py: bytes per token against vocabulary size on each corpus
  (results/compression.md, compression.png);
- scaling.py: training time and memory against corpus size (results/scaling.md,
  scaling.png); it builds corpora/bench/mixed-32mb.txt first when it is missing;
  "scaling-32k" runs it again at 32000 pieces (results/scaling-32k.md, scaling-32k.png);
- startup.py: first runs (cold, warm, after `bytepiece compile`) and start-up
  (results/startup.md);
- stream.py: the encode command on a long line and a piped corpus: memory, speed, and the
  long line's ids against the line encoded whole (results/stream.md);
- convert.py: how often models converted to SentencePiece and tokenizers give bytepiece's
  ids (results/convert.md).

Each runs in a subprocess with this interpreter; one that fails does not stop the others,
and the summary at the end (and the exit status, 1) says which failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
QUICK_RESULTS = HERE / "work" / "quick"
BENCHMARKS = ("encode", "train", "compression", "unigram-choices", "scaling", "scaling-32k",
              "startup", "stream", "convert")
#: Benchmarks that are another run of a script, and the options that make them so.
VARIANTS = {"scaling-32k": ("scaling", ["--vocab-size", "32000"]),
            "unigram-choices": ("unigram_choices", ["--sizes", "8000", "16000", "32000",
                                                    "64000"])}


def commands(results: Path, quick: bool) -> dict[str, list[str]]:
    """The argv of each benchmark, writing its report (and plot) into ``results``.

    >>> commands(Path("r"), quick=False)["train"][1:]
    ['benchmarks/train.py', '--output', 'r/train.md']
    >>> commands(Path("r"), quick=False)["scaling-32k"][1:]
    ['benchmarks/scaling.py', '--output', 'r/scaling-32k.md', '--vocab-size', '32000']
    """
    small = {
        "encode": ["--max-mb", "1", "--repeat", "1", "--startup-runs", "1"],
        "train": ["--quick"],
        "compression": ["--train-mb", "0.3", "--test-mb", "0.1", "--vocab-sizes", "4000,8000",
                        "--bench-mb", "0.5", "--bench-vocab-size", "4000"],
        "unigram-choices": ["--corpora", "zh", "--sizes", "2000", "--train-mb", "0.3",
                            "--test-mb", "0.1"],
        "scaling": ["--sizes", "0.5,1", "--vocab-size", "8000", "--reference-max-mb", "0.5"],
        "scaling-32k": ["--sizes", "0.5,1", "--reference-max-mb", "0.5"],
        "startup": ["--runs", "2"],
        "stream": ["--quick"],
        "convert": ["--quick"],
    }
    argvs = {}
    for name in BENCHMARKS:
        script, options = VARIANTS.get(name, (name, []))
        argvs[name] = [sys.executable, f"benchmarks/{script}.py", "--output",
                       str(results / f"{name}.md"), *options, *(small[name] if quick else [])]
    return argvs


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(BENCHMARKS),
                   help="comma-separated benchmarks to run (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes, a smoke test; reports go to benchmarks/work/quick/")
    args = p.parse_args(argv)
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    if set(only) - set(BENCHMARKS):
        p.error(f"--only takes {', '.join(BENCHMARKS)}")
    results = QUICK_RESULTS if args.quick else RESULTS
    results.mkdir(parents=True, exist_ok=True)
    argvs, outcome = commands(results, args.quick), {}
    for name in only:
        print(f"== {name}: {' '.join(argvs[name][1:])}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        # the report also goes to stdout: keep the terminal for progress and the summary
        proc = subprocess.run(argvs[name], cwd=ROOT, stdout=subprocess.DEVNULL)
        outcome[name] = (proc.returncode, time.perf_counter() - t0)
    print("\nbenchmark    status   seconds  report", file=sys.stderr)
    for name, (code, seconds) in outcome.items():
        status = "ok" if code == 0 else f"failed ({code})"
        print(f"{name:<12} {status:<8} {seconds:7.0f}  {results / (name + '.md')}",
              file=sys.stderr)
    sys.exit(1 if any(code for code, _ in outcome.values()) else 0)


if __name__ == "__main__":
    main()
