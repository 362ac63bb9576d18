"""First runs and start-up of the bytepiece command: cold against warm, after `bytepiece compile`.

Cold: numba's cache and the model cache empty (NUMBA_CACHE_DIR and BYTEPIECE_CACHE_DIR point
at new folders), so the run compiles the kernels it needs. Warm: the same command again.
After compile: new folders, `bytepiece compile` first (with `-m MODEL` before encode),
then the command. Start-up: the best of
--runs whole processes of `echo hello | bytepiece encode -m MODEL` (a 32k model) and of
`bytepiece --help`, warm. Model load: `Tokenizer(MODEL)` timed inside a new process, best
of --runs, from the compiled-model cache and with the cache off (BYTEPIECE_CACHE_DIR empty:
the trie and automaton are built from the JSON). Python writes its bytecode here (PYTHONDONTWRITEBYTECODE is unset
for the commands), as on an installed package.

    python benchmarks/startup.py [--repeat 3] [--runs 10] [--model M.json]   # ~4 minutes

Writes benchmarks/results/startup.md (command, date, commit) and prints it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import command_line, ensure_model, load_average, log, machine, publish

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bytepiece._kernels.precompile import ENCODE_KERNELS, TRAIN_KERNELS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT / "corpora"
WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results" / "startup.md"
#: What each figure is held to (issue 16).
TARGETS = {
    "train": "first run ≤ 4 s slower than the second",
    "encode": "first run ≤ 2 s slower than the second",
    "encode start-up": "≤ 0.10 s",
    "help": "≤ 0.08 s",
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=10, help="start-up runs; the best counts "
                   "(default: %(default)s)")
    p.add_argument("--repeat", type=int, default=3, help="rounds of the first-run figures, each "
                   "with new caches; the best of each figure counts (default: %(default)s)")
    p.add_argument("--model", type=Path, default=WORK / "startup-32k.json",
                   help="model for the start-up figure (default: %(default)s, trained with "
                        "bytepiece on corpora/{zh,en,code}.txt, vocab 32000, when missing)")
    p.add_argument("--output", type=Path, default=RESULTS, help="report (default: %(default)s)")
    return p.parse_args(argv)


# -- pure helpers (tested) ---------------------------------------------------------

def slower_by(first: float, second: float) -> float:
    """How many seconds the first run took beyond the second.

    >>> round(slower_by(5.5, 1.5), 3)
    4.0
    """
    return first - second


def no_slower(after: float, warm: float) -> bool:
    """Whether a run after `bytepiece compile` is no slower than the warm one, give or take
    the timing noise of one run (10%, or 0.1 s for short runs).

    >>> no_slower(1.05, 1.0), no_slower(1.5, 1.0), no_slower(0.35, 0.3)
    (True, False, True)
    """
    return after <= max(warm * 1.1, warm + 0.1)


def verdict(met: bool) -> str:
    """The table's mark for a target.

    >>> verdict(True), verdict(False)
    ('met', '**not met**')
    """
    return "met" if met else "**not met**"


def first_run_rows(times: dict[str, float]) -> list[list[str]]:
    """Rows (command, cold, warm, after compile, first minus second, target, verdict) from
    the seconds of each run: ``{train,encode}_{cold,warm,compiled}``.

    >>> first_run_rows({"train_cold": 5.0, "train_warm": 1.5, "train_compiled": 1.4,
    ...                 "encode_cold": 3.0, "encode_warm": 0.5, "encode_compiled": 0.9})[1]
    ['encode', '3.00', '0.50', '0.90', '2.50', 'first run ≤ 2 s slower than the second; \
after compile no slower than warm', '**not met**; **not met**']
    """
    limits = {"train": 4.0, "encode": 2.0}
    rows = []
    for name, limit in limits.items():
        cold, warm, compiled = (times[f"{name}_{k}"] for k in ("cold", "warm", "compiled"))
        gap = slower_by(cold, warm)
        rows.append([name, f"{cold:.2f}", f"{warm:.2f}", f"{compiled:.2f}", f"{gap:.2f}",
                     f"{TARGETS[name]}; after compile no slower than warm",
                     f"{verdict(gap <= limit)}; {verdict(no_slower(compiled, warm))}"])
    return rows


def startup_rows(encode: float, help_: float) -> list[list[str]]:
    """Rows (command, best seconds, target, verdict) of the start-up figures.

    >>> startup_rows(0.09, 0.1)[1][-1]
    '**not met**'
    """
    return [["`echo hello \\| bytepiece encode -m MODEL` (32k)", f"{encode:.3f}",
             TARGETS["encode start-up"], verdict(encode <= 0.10)],
            ["`bytepiece --help`", f"{help_:.3f}", TARGETS["help"], verdict(help_ <= 0.08)]]


def parse_compile_output(text: str) -> dict[str, list[float]]:
    """Seconds of each specialization per kernel, from the lines of `bytepiece compile`.

    >>> parse_compile_output("compiled  0.52s  lm.gather(u1[::1]ro, i8[::1])\\n"
    ...                      "compiled  0.10s  a.b(u2)\\ncompiled  0.30s  a.b(u4)\\n"
    ...                      "3 specializations of 2 kernels in 0.9s")
    {'lm.gather': [0.52], 'a.b': [0.1, 0.3]}
    """
    costs: dict[str, list[float]] = {}
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] in ("compiled", "cached") and parts[1].endswith("s"):
            costs.setdefault(parts[2].split("(")[0], []).append(float(parts[1][:-1]))
    return costs


def kernel_rows(costs: dict[str, list[float]], uses: dict[str, list[str]]) -> list[list[str]]:
    """Rows (kernel, seconds of one specialization, specializations, commands using it),
    costliest first, then a total per command (one specialization of each kernel).

    >>> kernel_rows({"a.x": [1.0], "a.y": [0.25, 0.75]}, {"train": ["a.x", "a.y"],
    ...                                                   "encode": ["a.y"]})
    [['a.x', '1.00', '1', 'train'], ['a.y', '0.50', '2', 'train, encode'], ['**train**, in all', '1.50', '', ''], ['**encode**, in all', '0.50', '', '']]
    """
    def one(kernel: str) -> float:
        return sum(costs[kernel]) / len(costs[kernel])

    rows = []
    for kernel in sorted(costs, key=one, reverse=True):
        users = [name for name, kernels in uses.items() if kernel in kernels]
        rows.append([kernel, f"{one(kernel):.2f}", str(len(costs[kernel])),
                     ", ".join(users) or "(other commands)"])
    for name, kernels in uses.items():
        total = sum(one(k) for k in kernels if k in costs)
        rows.append([f"**{name}**, in all", f"{total:.2f}", "", ""])
    return rows


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table.

    >>> markdown_table(["a", "b"], [["1", "2"]])
    ['| a | b |', '|---|---|', '| 1 | 2 |']
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


# -- measuring ------------------------------------------------------------------

def bytepiece(*args: str) -> list[str]:
    """The command line of ``bytepiece ARGS`` with this interpreter."""
    return [sys.executable, "-m", "bytepiece", *args]


def environment(folder: Path | None = None) -> dict[str, str]:
    """The commands' environment: caches in ``folder`` (new ones: cold), bytecode written."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if folder is not None:
        env.update(NUMBA_CACHE_DIR=str(folder / "numba"), BYTEPIECE_CACHE_DIR=str(folder / "models"))
    return env


def seconds(argv: list[str], env: dict[str, str], stdin: bytes | None = None) -> float:
    """Wall seconds of one run of ``argv`` (output discarded; a failure stops the benchmark)."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, input=stdin, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def best_rounds(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The best (lowest) of each figure over rounds of ``first_runs``.

    >>> best_rounds([{"a": 2.0, "b": 1.0}, {"a": 1.5, "b": 3.0}])
    {'a': 1.5, 'b': 1.0}
    """
    return {key: min(r[key] for r in rounds) for key in rounds[0]}


def first_runs(tmp: Path) -> dict[str, float]:
    """Cold, warm and after-compile seconds of the train and encode commands."""
    model = tmp / "m.json"
    train = bytepiece("train", str(CORPORA / "mixed.txt"), "-o", str(model), "--vocab-size",
                      "8000")
    encode = bytepiece("encode", "-m", str(model), str(CORPORA / "en.txt"))
    times = {}
    env = environment(tmp / "train")
    log("train: cold, warm ...")
    times["train_cold"], times["train_warm"] = seconds(train, env), seconds(train, env)
    env = environment(tmp / "encode")
    log("encode: cold, warm ...")
    times["encode_cold"], times["encode_warm"] = seconds(encode, env), seconds(encode, env)
    for name, argv in (("train", train), ("encode", encode)):
        env = environment(tmp / f"{name}-compiled")
        log(f"{name}: bytepiece compile, then the first run ...")
        models = ["-m", str(model)] if name == "encode" else []
        times["compile"] = seconds(bytepiece("compile", "-q", *models), env)
        times[f"{name}_compiled"] = seconds(argv, env)
    return times


def compile_costs(tmp: Path) -> dict[str, list[float]]:
    """Seconds of each kernel specialization, compiled one after the other into an empty
    cache by `bytepiece compile` (the first also pays numba's own start)."""
    done = subprocess.run(bytepiece("compile"), env=environment(tmp / "costs"),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bytepiece compile failed: {done.stderr[-500:]}")
    return parse_compile_output(done.stdout)


def pieces(model: Path) -> int:
    """The number of pieces of a BytePiece JSON model."""
    import json

    return len(json.loads(model.read_bytes()))


def best_of(runs: int, argv: list[str], stdin: bytes | None = None) -> float:
    env = environment()
    seconds(argv, env, stdin)  # warm: bytecode, model cache, kernels
    return min(seconds(argv, env, stdin) for _ in range(runs))


#: Times ``Tokenizer(path)`` alone, in a process whose imports are done.
LOAD = ("import sys, time; from bytepiece import Tokenizer; t = time.perf_counter(); "
        "Tokenizer(sys.argv[1]); print(time.perf_counter() - t)")


def load_seconds(model: Path, env: dict[str, str]) -> float:
    """Seconds of ``Tokenizer(model)`` in a new process (imports not counted)."""
    done = subprocess.run([sys.executable, "-c", LOAD, str(model)], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"loading {model} failed: {done.stderr[-500:]}")
    return float(done.stdout.strip().splitlines()[-1])


def model_load(model: Path, runs: int, tmp: Path) -> dict[str, float]:
    """Best seconds of loading ``model`` from the model cache and with the cache off."""
    cached = environment(tmp)
    off = dict(cached, BYTEPIECE_CACHE_DIR="")
    times = {}
    for name, env in (("cached", cached), ("no cache", off)):
        load_seconds(model, env)  # warm: kernels compiled, the cache entry written
        times[name] = min(load_seconds(model, env) for _ in range(runs))
    return times


def load_rows(times: dict[str, float]) -> list[list[str]]:
    """Rows (how, best seconds) of the model-load figures.

    >>> load_rows({"cached": 0.0123, "no cache": 0.5})
    [['from the model cache', '0.012'], ['cache off (`BYTEPIECE_CACHE_DIR=`)', '0.500']]
    """
    return [["from the model cache", f"{times['cached']:.3f}"],
            ["cache off (`BYTEPIECE_CACHE_DIR=`)", f"{times['no cache']:.3f}"]]


def main(argv=None) -> None:
    args = parse_args(argv)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    ensure_model(args.model)
    rounds = []
    for k in range(args.repeat):
        log(f"round {k + 1} of {args.repeat}")
        with tempfile.TemporaryDirectory(prefix="bytepiece-startup-") as tmp:
            rounds.append(first_runs(Path(tmp)))
    times = best_rounds(rounds)
    log("cold cost per kernel: bytepiece compile ...")
    with tempfile.TemporaryDirectory(prefix="bytepiece-startup-") as tmp:
        costs = compile_costs(Path(tmp))
    log(f"start-up: best of {args.runs} ...")
    encode = best_of(args.runs, bytepiece("encode", "-m", str(args.model)), b"hello\n")
    help_ = best_of(args.runs, bytepiece("--help"))
    log(f"model load: best of {args.runs} ...")
    with tempfile.TemporaryDirectory(prefix="bytepiece-load-") as tmp:
        loads = model_load(args.model, args.runs, Path(tmp))
    info = machine(os.cpu_count() or 1)
    lines = ["## First run and start-up", "",
             f"Seconds of whole `bytepiece` processes, best of {args.repeat} rounds. Cold: numba's and the model cache empty; "
             "warm: the same command again; after compile: new caches, `bytepiece compile` "
             f"(took {times['compile']:.1f} s; `-m m.json` before encode, which also builds the "
             "model's cache entry), then the command.", ""]
    lines += markdown_table(["command", "cold", "warm", "after compile", "cold − warm",
                             "targets", ""], first_run_rows(times))
    lines += ["", "train: `bytepiece train corpora/mixed.txt -o m.json --vocab-size 8000`; "
              "encode: `bytepiece encode -m m.json corpora/en.txt`. A first run compiles on two "
              "cores: a child process compiles some of the kernels the command needs while the "
              "command compiles the others (`bytepiece/_kernels/prefetch.py`).", "",
              "Cold cost per kernel: seconds to compile one specialization into an empty "
              "cache (`bytepiece compile`, one after the other; the first kernel also pays "
              "numba's start); the commands' totals are what one core would spend.", ""]
    lines += markdown_table(["kernel", "seconds", "specializations", "compiled by"],
                            kernel_rows(costs, {"train": TRAIN_KERNELS,
                                                "encode": ENCODE_KERNELS}))
    lines += ["",
              f"Start-up, warm, best of {args.runs}:", ""]
    lines += markdown_table(["command", "seconds", "target", ""], startup_rows(encode, help_))
    lines += ["", f"Model load: `Tokenizer('{args.model.name}')` ({pieces(args.model)} pieces, "
              f"{args.model.stat().st_size / 1e6:.1f} MB of JSON) inside a new process, imports "
              f"not counted, best of {args.runs}:", ""]
    lines += markdown_table(["load", "seconds"], load_rows(loads))
    lines += ["", "### Setup", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    lines += [f"- load average (start, end): {load_average(load)}",
              f"- start-up model: {args.model.name}, {pieces(args.model)} pieces", "",
              f"Command: `{command_line('benchmarks/startup.py', argv)}`; whole run "
              f"{time.perf_counter() - start:.0f} s.", ""]
    publish("\n".join(lines), args.output)


if __name__ == "__main__":
    main()
