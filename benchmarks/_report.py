"""What every benchmark report shares: logging, the command line, the machine's setup."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    """Progress on stderr: stdout carries the report."""
    print(message, file=sys.stderr, flush=True)


def require_psutil() -> None:
    """Stop with one line when psutil, which samples memory, is missing."""
    try:
        import psutil  # noqa: F401
    except ImportError:
        raise SystemExit("the benchmark needs psutil to sample memory: pip install psutil")


def command_line(script: str, argv: list[str] | None) -> str:
    """The command that reproduces this run, for the report.

    >>> command_line("benchmarks/train.py", ["--quick", "a b"])
    "python benchmarks/train.py --quick 'a b'"
    """
    args = sys.argv[1:] if argv is None else argv
    return " ".join(shlex.quote(a) for a in ["python", script, *args])


def ensure_model(path: Path) -> None:
    """Train, once, the 32000-piece bytepiece model of corpora/zh, en and code at ``path``
    (the model the start-up and stream benchmarks measure with); a failure stops the run."""
    if path.exists():
        return
    log(f"training {path} (vocabulary 32000) ...")
    path.parent.mkdir(parents=True, exist_ok=True)
    corpora = [str(ROOT / "corpora" / f"{name}.txt") for name in ("zh", "en", "code")]
    done = subprocess.run([sys.executable, "-m", "bytepiece", "train", *corpora, "-o", str(path),
                           "--vocab-size", "32000", "-q"], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"training failed: {done.stderr[-500:]}")


def commit() -> str:
    """The checkout's commit, so that a report names the code it measured."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        # reports written by earlier runs are not code: they do not make the tree dirty
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no", "--", ".", ":!benchmarks/results"],
                               capture_output=True, text=True).stdout
        return out + (" (with uncommitted changes)" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine(cores: int) -> dict[str, str]:
    """Date, commit, machine and Python of the run: the first lines of every report's setup."""
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "machine": f"{platform.machine()}, {cores} cores, {platform.system()} "
                   f"{platform.release()}",
        "python": platform.python_version(),
    }


def load_average(start: float) -> str:
    """The 1-minute load average at the start (given) and now."""
    return f"{start:.2f}, {os.getloadavg()[0]:.2f}"


def publish(report: str, output, plot=None) -> None:
    """Print the report, write it to ``output`` (a Path) and say where it went; ``plot``
    is the path of the drawn plot, if any."""
    print(report)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report + "\n", encoding="utf-8")
    log(f"wrote {output}" + (f" and {plot}" if plot else ""))


def footer(info: dict, settings: dict[str, str]) -> list[str]:
    """The report's closing lines: the setup, each system's settings, the command."""
    lines = ["", "### Setup", ""]
    lines += [f"- {key}: {value}" for key, value in info["setup"].items()]
    lines += ["", "Settings:", ""] + [f"- {k}: {v}" for k, v in settings.items()]
    lines += ["", f"Command: `{info['command']}`; whole run {info['elapsed']:.0f} s.", ""]
    return lines
