"""Training on a cluster: Dask and Ray against one machine, on the 1 GB scale corpus.

Three runs of `bytepiece train CORPUS -o MODEL --vocab-size 32000`, one after the other,
each timed from start to end in a subprocess of its own (issue 13):

- one machine: `--workers 2`, the baseline;
- Dask: a scheduler and 2 worker processes of 1 thread each (`dask worker --nworkers 2
  --nthreads 1 --memory-limit 0`) started here on free ports, then `--cluster tcp://...`;
- Ray: `ray start --head --num-cpus 2 --include-dashboard=false --block` with a temporary
  folder and port of its own, then `--cluster ray:auto` (RAY_ADDRESS set to that cluster).

Each cluster gets an untimed warm-up training first (its workers import bytepiece and
load numba's kernels once, as on a cluster that stays up), and is stopped at the end
(its process groups, also on failure or Ctrl-C). Measured per run: wall time; the peak of
the PSS summed over every process involved (the `bytepiece train` driver and the cluster's
process trees; for Ray also every process whose command line names its temporary folder),
sampled every 0.5 s; the bytes moved between tasks, from bytepiece's summary (passed
between tasks + shared with every worker x workers) and, for Dask, from its workers'
transfer counters; whether the model is byte-identical to the single-machine one. Then a
projection to 100 GB on 32 and 128 workers from the measured phases.

    python benchmarks/cluster.py            # about 15 minutes; benchmarks/results/cluster.md
    python benchmarks/cluster.py --quick    # 8 MB, about a minute; benchmarks/work/quick/

Models and the clusters' folders go to benchmarks/work/cluster-*/ (git-ignored), removed at
the end unless --keep. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _peers import Missing
from _report import command_line, footer, load_average, log, machine, require_psutil
from encode import parallel_capacity, table
from scale import _kill_group, _short, parse_size, summary
from train import _version, warm_up_bytepiece

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPORA = ROOT / "corpora"
SCALE_DIR = CORPORA / "scale"
WORK = HERE / "work"
RESULTS = HERE / "results" / "cluster.md"
QUICK_RESULTS = WORK / "quick" / "cluster.md"
QUICK_CORPUS = WORK / "cluster-quick-8M.txt"  # made by the first --quick run
QUICK_NAMES = ("en", "zh", "code", "mixed")
QUICK_BYTES = 8_000_000
MB = 1_000_000
MiB = 2**20
GB = 10**9

#: key for --skip -> label in the table, in the order they run
SYSTEMS = {
    "single": "one machine",
    "dask": "Dask",
    "ray": "Ray",
}
#: the targets of issue 13
TARGET_TIME_RATIO = 1.3
TARGET_MOVED_SHARE = 0.10
#: bytepiece's phases, as its summary names them, by what the projection does with them
COUNT_PHASES = ("count ngrams", "count pieces")
MERGE_PHASES = ("merge ngrams", "merge pieces")
CLIENT_PHASES = ("build lm", "prune pieces")
#: units of bytepiece.memory.format_size (powers of 1024, written kB, MB, GB)
SIZE_UNITS = {"kB": 2**10, "MB": 2**20, "GB": 2**30}
_SIZE = r"(\d+(?:\.\d+)?) (kB|MB|GB)"
_TRAINED = re.compile(r"trained on ([\d.]+) MB in ([\d.]+)s(?: \([^)]*\))? \((.*)\)\s*$")
_CLUSTER = re.compile(rf"on the cluster: (\d+) shards, (\d+) parts per merge, (\d+) tasks; "
                      rf"{_SIZE} passed between tasks, {_SIZE} shared with every worker"
                      rf"(?: \(the n-gram model {_SIZE}\))?; peak memory here {_SIZE}")
_PRUNING = re.compile(r"pruning: re-split tasks ([\d.]+)s, cut to sizes here ([\d.]+)s")
_SINGLE = re.compile(rf"memory budget {_SIZE}, peak memory {_SIZE}, spilled (\d+) n-gram "
                     rf"and (\d+) piece runs")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="1G",
                   help="the scale corpus corpora/scale/scale-SIZE.txt (default: %(default)s)")
    p.add_argument("--corpus", type=Path, default=None,
                   help="train on this file instead (every worker reads it: a local path)")
    p.add_argument("--quick", action="store_true",
                   help=f"a smoke test: {QUICK_BYTES // MB} MB of the first lines of "
                        f"corpora/{{{','.join(QUICK_NAMES)}}}.txt, written to "
                        f"{QUICK_CORPUS.relative_to(ROOT)}; report to "
                        f"{QUICK_RESULTS.relative_to(ROOT)}")
    p.add_argument("--vocab-size", type=int, default=32000,
                   help="vocabulary size (default: %(default)s)")
    p.add_argument("--workers", type=int, default=2,
                   help="threads of the single-machine run, worker processes of Dask (1 "
                        "thread each), CPUs of Ray (default: %(default)s)")
    p.add_argument("--skip", action="append", default=[], metavar="SYSTEM",
                   help="leave out dask or ray (shown as skipped); repeat or separate with "
                        "commas")
    p.add_argument("--timeout", type=float, default=3600,
                   help="seconds after which a training is killed (default: %(default)g)")
    p.add_argument("--interval", type=float, default=0.5,
                   help="seconds between memory samples (default: %(default)s)")
    p.add_argument("--project-size", default="100G",
                   help="corpus size of the projection, like 100G (default: %(default)s)")
    p.add_argument("--project-workers", default="32,128",
                   help="worker counts of the projection (default: %(default)s)")
    p.add_argument("--bandwidth", type=float, default=1.0,
                   help="network bandwidth per worker (and of the client) assumed by the "
                        "projection, GB/s (default: %(default)s)")
    p.add_argument("--task-overhead", type=float, default=1.0,
                   help="scheduler time per task assumed by the projection, ms, one task "
                        "after the other (default: %(default)s)")
    p.add_argument("--output", type=Path, default=None,
                   help="the report, FILE.md (default: benchmarks/results/cluster.md; "
                        "benchmarks/work/quick/cluster.md with --quick)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="also write every figure as JSON")
    p.add_argument("--keep", action="store_true",
                   help="keep the models and the clusters' folders (benchmarks/work/cluster-*/)")
    args = p.parse_args(argv)
    args.skip = {s.strip() for item in args.skip for s in item.split(",") if s.strip()}
    if args.skip - {"dask", "ray"}:
        p.error("--skip takes dask, ray")
    try:
        args.project_size_bytes = parse_size(args.project_size)
        args.project_workers = [int(w) for w in args.project_workers.split(",") if w.strip()]
    except ValueError as e:
        p.error(str(e))
    if (args.vocab_size < 259 or args.workers < 1 or args.timeout <= 0 or args.interval <= 0
            or args.bandwidth <= 0 or args.task_overhead < 0 or not args.project_workers
            or min(args.project_workers) < 1):
        p.error("--vocab-size must be at least 259, --workers and --project-workers at least "
                "1, --timeout, --interval and --bandwidth positive")
    args.output = args.output or (QUICK_RESULTS if args.quick else RESULTS)
    return args


# -- the corpus ------------------------------------------------------------------

def quick_corpus(out: Path, nbytes: int = QUICK_BYTES, names=QUICK_NAMES,
                 folder: Path = CORPORA) -> Path:
    """About ``nbytes`` of the first whole lines of each folder/NAME.txt, an equal share of
    each (a file shorter than its share gives all of it, the others share the rest),
    concatenated in the order of ``names`` into ``out`` (made once, then reused)."""
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    sizes = {name: (folder / f"{name}.txt").stat().st_size for name in names}
    shares, left = {}, nbytes
    for i, name in enumerate(sorted(names, key=sizes.get)):  # the shortest first
        shares[name] = min(sizes[name], left // (len(names) - i))
        left -= shares[name]
    parts = []
    for name in names:
        with open(folder / f"{name}.txt", "rb") as f:
            data = f.read(shares[name] + 1)
        if len(data) > shares[name]:  # cut short: back to the end of its last whole line
            data = data[:data.rfind(b"\n", 0, shares[name]) + 1]
        parts.append(data if data.endswith(b"\n") else data + b"\n")
    tmp = out.with_suffix(".part")
    tmp.write_bytes(b"".join(parts))
    tmp.replace(out)
    return out


def corpus_path(args) -> Path:
    """The file trained on: --corpus, the --quick text, or corpora/scale/scale-SIZE.txt."""
    if args.corpus is not None:
        path = args.corpus
    elif args.quick:
        path = quick_corpus(QUICK_CORPUS)
    else:
        path = SCALE_DIR / f"scale-{args.size.upper()}.txt"
    if not path.is_file():
        raise SystemExit(f"no corpus {path}: build the scale corpus with `python "
                         f"corpora/build_scale_corpus.py`, or give --corpus or --quick")
    return path.resolve()


# -- bytepiece's summary ---------------------------------------------------------

def parse_format_size(text: str) -> int:
    """Bytes of a size written by ``bytepiece.memory.format_size`` (to its precision).

    >>> parse_format_size("2.7 MB"), parse_format_size("12 MB"), parse_format_size("9 kB")
    (2831155, 12582912, 9216)
    """
    m = re.fullmatch(_SIZE, text.strip())
    if not m:
        raise ValueError(f"not a size of bytepiece's summary: {text!r}")
    return round(float(m.group(1)) * SIZE_UNITS[m.group(2)])


def _size(number: str, unit: str) -> int:
    return parse_format_size(f"{number} {unit}")


def parse_summary(stderr: str) -> dict | None:
    """The figures of bytepiece train's summary on stderr (its last "trained on" line and
    the line after it), or None if there is none."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if _TRAINED.match(line)]
    if not starts:
        return None
    i = starts[-1]
    m = _TRAINED.match(lines[i])
    phases = {}
    for item in m.group(3).split(", "):
        name, _, secs = item.rpartition(" ")
        phases[name] = float(secs.rstrip("s"))
    out = {"corpus_mb": float(m.group(1)), "trained_seconds": float(m.group(2)),
           "phases": phases}
    after = lines[i + 1] if i + 1 < len(lines) else ""
    c = _CLUSTER.match(after)
    if c:
        out["cluster"] = {
            "shards": int(c.group(1)), "parts": int(c.group(2)), "tasks": int(c.group(3)),
            "passed": _size(*c.group(4, 5)), "shared": _size(*c.group(6, 7)),
            "peak_here": _size(*c.group(10, 11)),
        }
        if c.group(8):
            out["cluster"]["model"] = _size(*c.group(8, 9))
        pruning = _PRUNING.search(after)
        if pruning:
            out["cluster"]["resplit_seconds"] = float(pruning.group(1))
            out["cluster"]["cut_seconds"] = float(pruning.group(2))
    s = _SINGLE.match(after)
    if s:
        out["single"] = {"budget": _size(*s.group(1, 2)), "peak_here": _size(*s.group(3, 4)),
                         "spilled_runs": int(s.group(5)) + int(s.group(6))}
    return out


def moved_bytes(passed: int, shared: int, workers: int) -> int:
    """Bytes moved between tasks: those passed from task to task (or to the client), and
    the shared ones once to every worker.

    >>> moved_bytes(12 * MiB, 3 * MiB, 2) == 18 * MiB
    True
    """
    return passed + shared * workers


def phase_sum(phases: dict[str, float], names) -> float:
    """Seconds of the phases ``names`` (those missing count 0).

    >>> phase_sum({"count ngrams": 1.5, "count pieces": 2.0, "build lm": 9}, COUNT_PHASES)
    3.5
    """
    return sum(phases.get(name, 0.0) for name in names)


# -- the clusters ----------------------------------------------------------------

def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    """A cluster started here: its processes (each the leader of a process group of its
    own), the address bytepiece is given, the driver's environment, and a marker in the
    command line of its processes (or None)."""

    name: str
    url: str
    procs: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    marker: str | None = None
    started: float = 0.0
    temp: Path | None = None  # Ray's temporary folder, removed after it stops

    def stop(self) -> None:
        """SIGTERM to every process group, SIGKILL to what is left after 15 s."""
        for proc in self.procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _kill_group(proc)  # the group's other members, even if the leader is gone
            proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _spawn(argv: list[str], log_file: Path, env: dict, cwd: Path) -> subprocess.Popen:
    """Start a long-running process in a session (and process group) of its own."""
    with open(log_file, "ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)


def start_dask(folder: Path, workers: int, env: dict) -> Cluster:
    """A Dask scheduler and ``workers`` worker processes of 1 thread each, on this machine;
    returns once every worker is connected."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    cluster = Cluster("dask", address, env=dict(env))
    t0 = time.perf_counter()
    try:
        cluster.procs.append(_spawn(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", str(port), "--no-dashboard"], folder / "dask-scheduler.log", env, folder))
        cluster.procs.append(_spawn(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers",
             str(workers), "--nthreads", "1", "--memory-limit", "0", "--no-dashboard",
             "--local-directory", str(folder / "dask-workers")],
            folder / "dask-workers.log", env, folder))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
    except BaseException:
        cluster.stop()
        raise
    cluster.started = time.perf_counter() - t0
    return cluster


def start_ray(folder: Path, workers: int, env: dict) -> Cluster:
    """A Ray head with ``workers`` CPUs, in a temporary folder and on a port of its own,
    kept in the foreground (``--block``) so that its processes form one tree; returns
    once it is up. The driver joins it through RAY_ADDRESS, never another Ray cluster of
    this machine."""
    temp = Path(tempfile.mkdtemp(prefix="bpray-", dir="/tmp"))  # short: Unix socket paths
    port = free_port()
    env = dict(env, RAY_USAGE_STATS_ENABLED="0",
               RAY_AUTH_MODE=os.environ.get("RAY_AUTH_MODE", "token"))
    cluster = Cluster("ray", "ray:auto", env=env, marker=str(temp))
    log_file = folder / "ray-head.log"
    t0 = time.perf_counter()
    try:
        cluster.procs.append(_spawn(
            [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--num-cpus",
             str(workers), "--include-dashboard=false", "--disable-usage-stats",
             "--temp-dir", str(temp), "--port", str(port), "--block"], log_file, env, folder))
        address_file = temp / "ray_current_cluster"
        deadline = time.monotonic() + 120
        while not (address_file.is_file() and address_file.read_text().strip()
                   and b"Ray runtime started" in log_file.read_bytes()):
            if cluster.procs[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start did not come up: "
                                   f"{_short(log_file.read_text(errors='replace')[-300:])}")
            time.sleep(0.2)
        cluster.env["RAY_ADDRESS"] = address_file.read_text().strip()
    except BaseException:
        cluster.stop()
        shutil.rmtree(temp, ignore_errors=True)
        raise
    cluster.started = time.perf_counter() - t0
    cluster.temp = temp
    return cluster


def dask_transfers(address: str, since: float) -> dict | None:
    """Dask's own count of what its workers moved since ``since`` (time.time()): the bytes
    each received from other workers (its ``transfer_incoming_log``) and each sent to
    workers or clients (``transfer_outgoing_bytes_total``, a running total), summed over
    the workers; None where this version of distributed lacks them."""
    from distributed import Client

    def read(dask_worker, since):  # nested: cloudpickle sends it by value
        incoming = getattr(dask_worker, "transfer_incoming_log", None)
        entries = list(incoming) if incoming is not None else []
        return {
            "incoming": (sum(e.get("total", 0) for e in entries if e.get("start", 0) >= since)
                         if incoming is not None else None),
            "log_full": bool(incoming is not None and incoming.maxlen
                             and len(entries) == incoming.maxlen
                             and entries[0].get("start", 0) >= since),
            "outgoing_total": getattr(dask_worker, "transfer_outgoing_bytes_total", None),
        }

    try:
        with Client(address, timeout="30s") as client:
            per_worker = client.run(read, since=since)
    except Exception as e:  # a figure to add, never a reason to fail the run
        log(f"  Dask's transfer counters: {e}")
        return None
    values = list(per_worker.values())
    incoming = [v["incoming"] for v in values]
    outgoing = [v["outgoing_total"] for v in values]
    return {"incoming": None if None in incoming else sum(incoming),
            "outgoing_total": None if None in outgoing else sum(outgoing),
            "log_full": any(v["log_full"] for v in values), "workers": len(values)}


# -- measuring -------------------------------------------------------------------

def involved(roots: list, marker: str | None = None) -> dict:
    """{pid: psutil.Process} of the ``roots`` and all their descendants, and of every
    process whose command line holds ``marker`` (and its descendants)."""
    import psutil

    found = {}

    def add_tree(proc):
        try:
            tree = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return
        for p in tree:
            found.setdefault(p.pid, p)

    for root in roots:
        add_tree(root)
    if marker:
        for proc in psutil.process_iter(["cmdline"]):
            if proc.pid not in found and any(marker in a for a in proc.info["cmdline"] or ()):
                add_tree(proc)
    return found


def total_pss(procs) -> int:
    """Proportional set size summed over ``procs``: a page shared by n of them (Ray's
    object store, forked copies) counts 1/n in each, so once in all (RSS off Linux)."""
    import psutil

    total = 0
    for proc in procs:
        try:
            info = proc.memory_full_info()
            total += getattr(info, "pss", info.rss)
        except psutil.Error:  # exited meanwhile, or not ours to read
            pass
    return total


@dataclass
class Run:
    """A finished training command: wall time, peak PSS of every process involved, its
    exit status and stderr, and ``killed`` if it ran past the timeout."""

    wall: float
    peak_pss: int
    returncode: int | None
    stderr: str
    killed: str | None = None


def run_sampled(argv: list[str], env: dict, cwd: Path, *, roots: list, marker: str | None,
                interval: float, timeout: float) -> Run:
    """Run a command to its end in a process group of its own, timing it and sampling the
    PSS summed over it, the processes ``roots`` and their trees, and the processes named by
    ``marker``, every ``interval`` s; kill its group past ``timeout`` s."""
    import psutil

    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
        peak, done, killed = 0, threading.Event(), None

        def sample():
            nonlocal peak
            try:
                driver = psutil.Process(proc.pid)
            except psutil.Error:
                return
            others = _processes(roots)
            while not done.is_set():
                peak = max(peak, total_pss(involved([driver, *others], marker).values()))
                done.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            killed = "timeout"
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
    return Run(wall, peak, returncode, stderr, killed)


def train_command(corpus: Path, model: Path, args, cluster: Cluster | None) -> list[str]:
    """bytepiece train's command line for one run."""
    argv = [sys.executable, "-m", "bytepiece", "train", str(corpus), "-o", str(model),
            "--vocab-size", str(args.vocab_size)]
    return argv + (["--cluster", cluster.url] if cluster else ["--workers", str(args.workers)])


def warm_up_cluster(cluster: Cluster, folder: Path) -> float:
    """Train a tiny model on the cluster, untimed: its workers import bytepiece and load
    numba's kernels once. Seconds it took."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bytepiece", "train", str(CORPORA / "tiny" / "en.txt"),
         str(CORPORA / "tiny" / "zh.txt"), "-o", str(folder / f"warm-{cluster.name}.json"),
         "--vocab-size", "300", "--cluster", cluster.url, "-q"],
        capture_output=True, text=True, cwd=folder, env=cluster.env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"warm-up training failed: {_short(proc.stderr.strip()[-300:])}")
    return time.perf_counter() - t0


def measure(args, key: str, corpus: Path, folder: Path, env: dict) -> dict | Missing:
    """One system's run, its cluster started before and stopped after: its figures, or
    Missing with the reason it has none."""
    label = SYSTEMS[key]
    if key in args.skip:
        return Missing(f"left out with --skip {key}", "skipped")
    model = folder / f"{key}.json"
    cluster, warm, extra, before = None, None, {}, None
    try:
        if key != "single":
            log(f"{label}: starting a cluster ...")
            cluster = (start_dask if key == "dask" else start_ray)(folder, args.workers, env)
            log(f"  up in {cluster.started:.1f} s; warm-up training ...")
            warm = warm_up_cluster(cluster, folder)
            extra["at_rest_mb"] = total_pss(involved(_processes(cluster.procs),
                                                     cluster.marker).values()) / MiB
            if key == "dask":
                before = dask_transfers(cluster.url, time.time())
        log(f"{label}: training on {corpus.name} ...")
        since = time.time()
        run = run_sampled(train_command(corpus, model, args, cluster),
                          cluster.env if cluster else env, folder,
                          roots=cluster.procs if cluster else [],
                          marker=cluster.marker if cluster else None,
                          interval=args.interval, timeout=args.timeout)
        if key == "dask" and run.returncode == 0:
            after = dask_transfers(cluster.url, since)
            if after and before and None not in (after["outgoing_total"],
                                                 before["outgoing_total"]):
                after["outgoing"] = after["outgoing_total"] - before["outgoing_total"]
            extra["dask_transfers"] = after
    except (RuntimeError, OSError, TimeoutError, subprocess.SubprocessError) as e:
        log(f"  failed: {e}")
        return Missing(f"{label}: {e}", "failed: " + _short(str(e), 60))
    finally:
        if cluster is not None:
            cluster.stop()
            if cluster.temp is not None:
                shutil.rmtree(cluster.temp, ignore_errors=True)
    if run.killed:
        return Missing(f"{label}: killed after {args.timeout:g} s; its last line on stderr: "
                       f"{_last(run.stderr)}", f"over {args.timeout:g} s")
    parsed = parse_summary(run.stderr)
    if run.returncode != 0 or not model.is_file() or parsed is None:
        reason = _last(run.stderr) if run.returncode else "no model or no summary"
        log(f"  failed (status {run.returncode}): {reason}")
        return Missing(f"{label} failed (status {run.returncode}): {reason}",
                       "failed: " + _short(reason, 60))
    log(f"  {run.wall:.1f} s, peak PSS {run.peak_pss / MiB:.0f} MiB")
    return {"label": label, "wall_seconds": run.wall, "peak_pss_mb": run.peak_pss / MiB,
            "model": str(model), "summary": summary(run.stderr), "parsed": parsed,
            "warm_up_seconds": warm, "workers": args.workers, **extra}


def _processes(popens: list) -> list:
    """The psutil.Process of each of ``popens`` still running."""
    import psutil

    out = []
    for popen in popens:
        try:
            out.append(psutil.Process(popen.pid))
        except psutil.Error:
            pass
    return out


def _last(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no message"


def compare(results: dict) -> None:
    """Mark whether each cluster's model is byte-identical to the single-machine one."""
    base = results.get("single")
    if not isinstance(base, dict):
        return
    data = Path(base["model"]).read_bytes()
    for key, r in results.items():
        if key != "single" and isinstance(r, dict):
            r["identical"] = Path(r["model"]).read_bytes() == data


# -- figures per run -------------------------------------------------------------

def moved(result: dict) -> int | None:
    """Bytes moved between tasks by a cluster run, from its summary; None for one machine."""
    c = result["parsed"].get("cluster")
    return None if c is None else moved_bytes(c["passed"], c["shared"], result["workers"])


def row(key: str, result, base, corpus_bytes: int) -> list[str]:
    """One line of the table."""
    if isinstance(result, Missing):
        return [SYSTEMS[key], str(result)] + ["–"] * 5
    m = moved(result)
    ratio = (f"{result['wall_seconds'] / base['wall_seconds']:.2f}x"
             if isinstance(base, dict) else "–")
    identical = "–" if "identical" not in result else ("yes" if result["identical"] else "no")
    return [result["label"], f"{result['wall_seconds']:.1f}", f"{result['peak_pss_mb']:.0f}",
            "–" if m is None else f"{m / MB:.1f}",
            "–" if m is None else f"{100 * m / corpus_bytes:.1f}%", ratio, identical]


def results_table(results: dict, corpus_bytes: int) -> list[str]:
    """The markdown table: a row per system, every one shown, even without a figure.

    >>> single = {"label": "one machine", "wall_seconds": 10.0, "peak_pss_mb": 300.4,
    ...           "parsed": {}, "workers": 2}
    >>> ray = {"label": "Ray", "wall_seconds": 12.5, "peak_pss_mb": 900.0, "workers": 2,
    ...        "parsed": {"cluster": {"passed": 3 * MB, "shared": MB}}, "identical": True}
    >>> results_table({"single": single, "ray": ray}, 100 * MB)[2:]
    ['| one machine | 10.0 | 300 | – | – | 1.00x | – |', \
'| Ray | 12.5 | 900 | 5.0 | 5.0% | 1.25x | yes |']
    """
    header = ["system", "wall s", "peak memory MiB", "moved MB", "moved % corpus",
              "time vs one machine", "identical model"]
    base = results.get("single")
    return table(header, [row(key, r, base, corpus_bytes) for key, r in results.items()])


def targets(results: dict, corpus_bytes: int) -> list[str]:
    """Each cluster run against the issue's targets, one line each.

    >>> base = {"wall_seconds": 10.0, "parsed": {}, "workers": 2}
    >>> dask = {"label": "Dask", "wall_seconds": 14.0, "workers": 2,
    ...         "parsed": {"cluster": {"passed": 5 * MB, "shared": 0}}}
    >>> targets({"single": base, "dask": dask}, 100 * MB)
    ['- Dask: time 1.40x one machine (target at most 1.3x: missed); moved 5.0% of the \
corpus (target at most 10%: met)']
    """
    base, out = results.get("single"), []
    for key, r in results.items():
        if key == "single" or not isinstance(r, dict):
            continue
        share = moved(r) / corpus_bytes
        parts = []
        if isinstance(base, dict):
            ratio = r["wall_seconds"] / base["wall_seconds"]
            parts.append(f"time {ratio:.2f}x one machine (target at most "
                         f"{TARGET_TIME_RATIO:g}x: {_met(ratio <= TARGET_TIME_RATIO)})")
        parts.append(f"moved {100 * share:.1f}% of the corpus (target at most "
                     f"{100 * TARGET_MOVED_SHARE:.0f}%: {_met(share <= TARGET_MOVED_SHARE)})")
        model = r["parsed"].get("cluster", {}).get("model")
        if model:  # the floor under "moved": every worker needs the model whole
            floor = model * r["workers"] / corpus_bytes
            parts.append(f"of that, the n-gram model sent to each of the {r['workers']} "
                         f"workers: {100 * floor:.1f}% of the corpus")
        out.append(f"- {r['label']}: " + "; ".join(parts))
    return out


def _met(ok: bool) -> str:
    return "met" if ok else "missed"


def notes(results: dict) -> list[str]:
    """Each run's summary lines, Dask's own transfer counts, and why a run has no figure."""
    out = []
    for key, r in results.items():
        if isinstance(r, Missing):
            why = f"skipped: {r.reason}" if r.label == "skipped" else r.reason
            out.append(f"- {SYSTEMS[key]}: {why}")
            continue
        out.append(f"- {r['label']}: `{r['summary']}`")
        if r.get("warm_up_seconds") is not None:
            out.append(f"  - cluster at rest after its warm-up training "
                       f"({r['warm_up_seconds']:.1f} s): {r['at_rest_mb']:.0f} MiB PSS")
        t = r.get("dask_transfers")
        if t:
            inc = "not available" if t["incoming"] is None else f"{t['incoming'] / MB:.1f} MB"
            outgoing = t.get("outgoing")
            out.append(
                f"  - Dask's own counters over its {t['workers']} workers, during this run: "
                f"received from other workers {inc} (`transfer_incoming_log`"
                + (", full: a lower bound" if t["log_full"] else "")
                + "); sent to workers and to the client "
                + ("not available" if outgoing is None else f"{outgoing / MB:.1f} MB")
                + " (`transfer_outgoing_bytes_total`). Scattered (shared) values are not in "
                  "them.")
    return out


# -- the projection --------------------------------------------------------------

@dataclass
class Measured:
    """What the projection takes from one cluster run."""

    corpus_bytes: int
    workers: int
    shards: int
    parts: int
    count_seconds: float
    merge_seconds: float
    client_seconds: float
    passed: int
    shared: int
    resplit_seconds: float = 0.0

    @classmethod
    def of(cls, result: dict, corpus_bytes: int) -> "Measured":
        """The phases of a run; the re-split tasks of its pruning count as workers' work,
        the rest of pruning (and building the model) as the client's."""
        p, c = result["parsed"]["phases"], result["parsed"]["cluster"]
        resplit = c.get("resplit_seconds", 0.0)
        return cls(corpus_bytes, result["workers"], c["shards"], c["parts"],
                   phase_sum(p, COUNT_PHASES), phase_sum(p, MERGE_PHASES),
                   phase_sum(p, CLIENT_PHASES) - resplit, c["passed"], c["shared"], resplit)


def count_rate(m: Measured) -> float:
    """Bytes per second per worker of the two count phases together.

    >>> count_rate(Measured(10**9, 2, 4, 2, 100.0, 0, 0, 0, 0))
    5000000.0
    """
    return m.corpus_bytes / (m.count_seconds * m.workers)


def shard_plan(corpus_bytes: int, slots: int) -> tuple[int, int]:
    """(shards, bytes per shard) of a corpus of one large file on ``slots`` workers, as
    bytepiece.training.distributed.train and Corpus.shards cut it (line ends aside).

    >>> shard_plan(10**9, 2), shard_plan(100 * 10**9, 32)[0], shard_plan(5 * MiB, 2)
    ((4, 250000001), 373, (4, 1310721))
    """
    from bytepiece.training.distributed import MAX_SHARD_BYTES, MIN_SHARD_BYTES

    target = min(MAX_SHARD_BYTES, max(MIN_SHARD_BYTES, corpus_bytes // (2 * slots) + 1))
    if corpus_bytes <= target + target // 2:
        return 1, corpus_bytes
    return math.ceil(corpus_bytes / target - 1.5) + 1, target


def task_count(shards: int, parts: int) -> int:
    """Tasks of one training: bytepiece.training.distributed's own count.

    >>> task_count(4, 2)
    18
    """
    from bytepiece.training.distributed import task_count as count

    return count(shards, parts)


def project(m: Measured, corpus_bytes: int, workers: int, bandwidth: float,
            task_overhead: float) -> dict:
    """Seconds of each part of a training of ``corpus_bytes`` on ``workers`` workers, from
    one measured run (``bandwidth`` in bytes/s per worker, ``task_overhead`` in s):

    - count: the shards in waves of ``workers``, each shard at the measured count rate;
    - merge: the measured merges grown with the corpus, over ``workers`` parts;
    - re-split: pruning's re-split tasks, grown with the corpus, over ``workers``;
    - transfer: the bytes passed, grown with the corpus, into every worker at once;
    - broadcast: the shared bytes, grown with the corpus, out of the client to each worker;
    - client: build lm and the rest of prune pieces (the cut to sizes), which do not
      scale with workers: as measured (low) or grown with the corpus (high);
    - scheduler: every task one after the other at ``task_overhead``.
    """
    growth = corpus_bytes / m.corpus_bytes
    shards, shard_bytes = shard_plan(corpus_bytes, workers)
    passed, shared = m.passed * growth, m.shared * growth
    tasks = task_count(shards, workers)
    parts = {
        "count": math.ceil(shards / workers) * shard_bytes / count_rate(m),
        "merge": m.merge_seconds * growth * m.parts / workers,
        "re-split": m.resplit_seconds * growth * m.workers / workers,
        "transfer": passed / (workers * bandwidth),
        "broadcast": shared * workers / bandwidth,
        "scheduler": tasks * task_overhead,
    }
    fixed = sum(parts.values())
    moved = moved_bytes(passed, shared, workers)
    return {**parts, "client_low": m.client_seconds, "client_high": m.client_seconds * growth,
            "total_low": fixed + m.client_seconds,
            "total_high": fixed + m.client_seconds * growth,
            "workers": workers, "shards": shards, "tasks": tasks, "moved": moved,
            "moved_share": moved / corpus_bytes}


def _hours(seconds: float) -> str:
    """Seconds as hours, or as minutes under an hour.

    >>> _hours(5400), _hours(90)
    ('1.5 h', '2 min')
    """
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def projection_table(projections: dict[str, list[dict]]) -> list[str]:
    """The projection's markdown table: a row per engine and worker count.

    >>> p = dict(workers=32, shards=373, tasks=25000, count=100.0, merge=2.0, transfer=0.5,
    ...          broadcast=3.0, scheduler=25.0, client_low=10.0, client_high=1000.0,
    ...          total_low=140.6, total_high=1130.4, moved=5 * GB, moved_share=0.05)
    >>> projection_table({"Dask": [p]})[2]
    '| Dask | 32 | 373 | 25000 | 100 | 2 | 0 | 0.5 | 3.0 | 25 | 10–1000 | 141–1130 (2 min–19 min) \
| 5.0 (5.0%) |'
    """
    header = ["engine", "workers", "shards", "tasks", "count s", "merge s", "re-split s",
              "transfer s", "broadcast s", "scheduler s", "client s", "total s",
              "moved GB (% corpus)"]
    rows = [[engine, str(p["workers"]), str(p["shards"]), str(p["tasks"]), f"{p['count']:.0f}",
             f"{p['merge']:.0f}", f"{p.get('re-split', 0):.0f}", f"{p['transfer']:.1f}",
             f"{p['broadcast']:.1f}",
             f"{p['scheduler']:.0f}", f"{p['client_low']:.0f}–{p['client_high']:.0f}",
             f"{p['total_low']:.0f}–{p['total_high']:.0f} ({_hours(p['total_low'])}–"
             f"{_hours(p['total_high'])})",
             f"{p['moved'] / GB:.1f} ({100 * p['moved_share']:.1f}%)"]
            for engine, ps in projections.items() for p in ps]
    return table(header, rows)


def projections(args, results: dict, corpus_bytes: int) -> dict[str, list[dict]]:
    """{engine label: its projections, one per --project-workers} for each cluster run."""
    out = {}
    for key, r in results.items():
        if key != "single" and isinstance(r, dict):
            m = Measured.of(r, corpus_bytes)
            out[r["label"]] = [project(m, args.project_size_bytes, w, args.bandwidth * GB,
                                       args.task_overhead / 1000)
                               for w in args.project_workers]
    return out


def projection_section(args, results: dict, corpus_bytes: int) -> list[str]:
    """The projection: its inputs per engine, its table and its assumptions."""
    proj = projections(args, results, corpus_bytes)
    if not proj:
        return []
    size = args.project_size_bytes
    lines = ["", f"### Projection: {size / GB:g} GB on "
                 f"{' and '.join(map(str, args.project_workers))} workers", ""]
    for key, r in results.items():
        if key == "single" or not isinstance(r, dict):
            continue
        m = Measured.of(r, corpus_bytes)
        lines.append(
            f"- {r['label']}, measured: count phases {m.count_seconds:.1f} s on {m.workers} "
            f"workers = {count_rate(m) / MB:.2f} MB/s per worker; merges {m.merge_seconds:.1f} s "
            f"over {m.parts} parts; pruning's re-split tasks {m.resplit_seconds:.1f} s; the "
            f"rest of build lm and prune pieces (the client's) {m.client_seconds:.1f} s; "
            f"{m.passed / MB / (corpus_bytes / GB):.1f} MB passed and "
            f"{m.shared / MB / (corpus_bytes / GB):.1f} MB shared per GB of corpus; "
            f"{m.shards} shards of {corpus_bytes / m.shards / MB:.0f} MB.")
    base = results.get("single")
    if isinstance(base, dict):
        rate = corpus_bytes / base["wall_seconds"]
        lines.append(f"- One machine at its measured {rate / MB:.2f} MB/s would take "
                     f"{_hours(size / rate)} (linear; its prune phase grows faster than the "
                     f"corpus, so this is a lower bound).")
    lines += [""] + projection_table(proj)
    _, cap = shard_plan(size, max(args.project_workers))
    runs = {r["label"]: Measured.of(r, corpus_bytes) for k, r in results.items()
            if k != "single" and isinstance(r, dict)}
    small = [label for label, m in runs.items() if corpus_bytes / m.shards < 0.5 * cap]
    measured_parts = ", ".join(sorted({str(m.parts) for m in runs.values()}))
    lines += [
        "",
        "How each column is made, and what it assumes:",
        "",
        f"- shards, tasks: the corpus as one file cut as bytepiece cuts it (shards of "
        f"{cap / MiB:.0f} MiB at most), parts per merge = workers; tasks = 3 x shards + 3 x "
        f"parts, as bytepiece counts them (Dask adds a small task per item a task returns).",
        "- count: both count phases run shard by shard in waves of `workers` shards "
        "(ceil(shards / workers) waves), each shard at the measured MB/s per worker; the "
        "corpus is read from storage that keeps up with every worker at once.",
        "- merge: the measured merge phases grown linearly with the corpus (a merge's input "
        "is the runs of every shard, and their bytes grow with the number of shards), spread "
        f"over parts = workers (measured on {measured_parts} parts).",
        f"- transfer: the bytes passed between tasks, grown linearly with the corpus (shards "
        f"of the same size give runs of about the same size), received by the workers at "
        f"once at {args.bandwidth:g} GB/s each; on this machine the measured phases moved "
        f"them without a network, so this is added.",
        f"- broadcast: the shared bytes (kept n-grams, kept pieces), grown linearly with the "
        f"corpus (an upper bound: they grow slower), sent by the client once to every worker "
        f"at {args.bandwidth:g} GB/s, one worker after the other (no broadcast tree).",
        f"- scheduler: {args.task_overhead:g} ms per task, one task after the other.",
        "- re-split: pruning's re-split tasks (the pieces not kept, where the merges and "
        "counts left them), grown linearly with the corpus, spread over the workers.",
        "- client: the rest of build lm and prune pieces (sharing the vocabulary, the cut "
        "to each size on the client) does not get faster with workers; low: as measured, "
        "high: grown linearly with the corpus (an upper bound: it works on the candidate "
        "pieces, which grow slower than the corpus).",
        "- moved: passed + shared x workers, at the projected size; its share of the corpus "
        "against the target of 10%.",
        "- Not in it: worker start-up, stragglers and retries, skew between parts, and "
        "memory (each task keeps its own budget).",
    ]
    if small:
        lines += ["", f"Note: the measured shards of {', '.join(small)} are much smaller than "
                      f"the projection's, so their per-GB bytes and per-task costs are "
                      f"overstated: a projection from a small corpus (--quick) is a smoke "
                      f"test of the arithmetic, not a forecast."]
    return lines


# -- report ----------------------------------------------------------------------

def render(args, info: dict, results: dict) -> str:
    corpus_bytes = info["corpus_bytes"]
    lines = [
        "## Training on a cluster",
        "",
        f"{args.vocab_size} pieces on {info['corpus']}, {corpus_bytes:,} bytes, with "
        f"{args.workers} workers on this machine: `--workers {args.workers}`; Dask, a "
        f"scheduler and {args.workers} worker processes of 1 thread each; Ray, a head with "
        f"{args.workers} CPUs. Each run in a subprocess of its own, one after the other, each "
        f"cluster started for its run and stopped after it, with an untimed warm-up training "
        f"on it first. Wall time is the whole `bytepiece train` command (interpreter start-up, "
        f"connecting to the cluster, and the summary's compression measure included). Peak "
        f"memory: the PSS (proportional set size: a page shared by n processes counts 1/n in "
        f"each, so Ray's shared object store counts once) summed over every process involved, "
        f"sampled every {args.interval:g} s: the `bytepiece train` process tree; for Dask also "
        f"the trees of `dask scheduler` and `dask worker` (nannies and worker processes); for "
        f"Ray also the tree of `ray start --block` (GCS, raylet with its object store, workers, "
        f"agents, monitors) and any process whose command line names the cluster's temporary "
        f"folder. Moved: from bytepiece's summary, the bytes passed between tasks (or to the "
        f"client) plus the bytes shared with every worker times {args.workers} workers (sizes "
        f"as the summary rounds them); MB are 10^6 bytes, MiB 2^20.",
        "",
    ]
    lines += results_table(results, corpus_bytes)
    lines += ["", "Targets (issue 13): at most "
                  f"{TARGET_TIME_RATIO:g}x the single-machine time, and bytes moved between "
                  f"tasks at most {100 * TARGET_MOVED_SHARE:.0f}% of the corpus.", ""]
    lines += targets(results, corpus_bytes) or ["- no cluster run to compare"]
    lines += ["", "Notes:", ""] + notes(results)
    lines += projection_section(args, results, corpus_bytes)
    lines += footer(info, {r["label"]: r["settings"] for r in results.values()
                           if isinstance(r, dict)})
    return "\n".join(lines)


def settings(args, key: str) -> str:
    """How a system was run, for the report's footer."""
    w = args.workers
    train = f"`bytepiece train CORPUS -o MODEL --vocab-size {args.vocab_size}"
    if key == "single":
        return train + f" --workers {w}`"
    if key == "dask":
        return (f"`dask scheduler --host 127.0.0.1 --port PORT --no-dashboard`, `dask worker "
                f"tcp://127.0.0.1:PORT --nworkers {w} --nthreads 1 --memory-limit 0 "
                f"--no-dashboard`; " + train + " --cluster tcp://127.0.0.1:PORT`")
    return (f"`ray start --head --num-cpus {w} --include-dashboard=false "
            f"--disable-usage-stats --temp-dir /tmp/bpray-XXXX --port PORT --block`; "
            f"RAY_ADDRESS=(its GCS address) RAY_AUTH_MODE=token " + train
            + " --cluster ray:auto`")


# -- main ------------------------------------------------------------------------

def main(argv=None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    require_psutil()
    cores = os.cpu_count() or 1
    load_start, capacity_start = os.getloadavg()[0], parallel_capacity(cores)
    corpus = corpus_path(args)
    corpus_bytes = corpus.stat().st_size
    WORK.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="cluster-", dir=WORK))
    env = dict(os.environ, PYTHONUTF8="1")
    results: dict = {}
    try:
        log(f"corpus: {corpus} ({corpus_bytes:,} bytes)")
        warm = warm_up_bytepiece(args.workers)
        for key in SYSTEMS:
            results[key] = measure(args, key, corpus, folder, env)
            if isinstance(results[key], dict):
                results[key]["settings"] = settings(args, key)
        compare(results)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    import bytepiece
    import numba

    info = {
        "corpus": (f"`{_shown(corpus)}` (--quick: the first lines of corpora/"
                   f"{{{','.join(QUICK_NAMES)}}}.txt, an equal share of each)"
                   if args.quick and args.corpus is None else f"`{_shown(corpus)}`"),
        "corpus_bytes": corpus_bytes,
        "command": command_line("benchmarks/cluster.py", argv),
        "setup": {
            **machine(cores),
            "load average (1 min) at start, end": load_average(load_start),
            "cores available at start, end": f"{capacity_start:.2f}, "
                                             f"{parallel_capacity(cores):.2f} of {cores}",
            "bytepiece": f"{getattr(bytepiece, '__version__', '?')} (numba "
                         f"{numba.__version__}); warm-up run before timing, so the kernels "
                         f"come from numba's cache: {warm:.1f} s",
            "engines": f"distributed {_version('distributed')}, ray {_version('ray')}",
            "psutil": _version("psutil"),
        },
    }
    info["elapsed"] = time.perf_counter() - started
    report = render(args, info, results)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report + "\n", encoding="utf-8")
    log(f"wrote {args.output}")
    if args.json:
        data = {"info": info, "results": {
            k: ({"missing": r.label, "reason": r.reason} if isinstance(r, Missing) else r)
            for k, r in results.items()},
            "projection": {"size_bytes": args.project_size_bytes,
                           "bandwidth_gb_s": args.bandwidth,
                           "task_overhead_ms": args.task_overhead,
                           "engines": projections(args, results, corpus_bytes)}}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _shown(path: Path) -> str:
    """A path relative to the checkout when it is inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    main()
