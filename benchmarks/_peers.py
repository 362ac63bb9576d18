"""The tokenizers bytepiece is compared with: BytePiece 0.6.3, SentencePiece, tokenizers.

BytePiece 0.6.3 shares our import name, so it lives in its own virtual
environment and runs in a subprocess (``_reference_worker.py``); SentencePiece
runs in this process. Every function here reports a peer that cannot run as
``Missing(reason)`` instead of raising, so the table can say so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REFERENCE_WORKER = HERE / "_reference_worker.py"
DEFAULT_REFERENCE_PYTHON = "/work/venvs/ref/bin/python"
#: where install_peers.sh puts the reference's venv by default
INSTALLED_REFERENCE_PYTHON = HERE / "work" / "bytepiece-0.6.3" / "bin" / "python"


@dataclass
class Missing:
    """A peer that could not be measured, and why (shown in the table)."""

    reason: str
    label: str = "missing"

    def __str__(self) -> str:
        return self.label


# -- BytePiece 0.6.3 (the reference) ---------------------------------------------

def reference_python(option: str | None) -> str:
    """--reference-python, else $BYTEPIECE_REFERENCE_PYTHON, else the venv made by
    install_peers.sh if there is one, else the usual venv of this machine."""
    if option or os.environ.get("BYTEPIECE_REFERENCE_PYTHON"):
        return option or os.environ["BYTEPIECE_REFERENCE_PYTHON"]
    if INSTALLED_REFERENCE_PYTHON.exists():
        return str(INSTALLED_REFERENCE_PYTHON)
    return DEFAULT_REFERENCE_PYTHON


def check_reference(python: str) -> str | Missing:
    """The installed BytePiece version of that interpreter, or why it is missing."""
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        return Missing(f"no interpreter at {python} (see benchmarks/install_peers.sh)")
    probe = ("import bytepiece, importlib.metadata as m; "
             "assert hasattr(bytepiece, 'Trainer'); print(m.version('bytepiece'))")
    proc = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True,
                          cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        return Missing(f"{python} cannot import BytePiece: {_last_line(proc.stderr)}")
    return proc.stdout.strip()


def reference_training_command(python: str, path: Path, corpora: list[Path], vocab_size: int,
                               order: int = 6, min_count: int = 2,
                               workers: int | None = None) -> list[str]:
    """The argv that trains a model with BytePiece 0.6.3 and saves it to ``path``:
    ``Trainer(order, max_vocab_size, min_count).train(lines, workers)`` over the
    lines of the files (re-iterable: it reads them twice). Run it with
    PYTHONUTF8=1, as the reference writes with the locale's encoding."""
    script = (
        "import sys\n"
        "from bytepiece import Trainer\n"
        "class Lines:\n"
        "    def __init__(self, files): self.files = files\n"
        "    def __iter__(self):\n"
        "        for name in self.files:\n"
        "            with open(name, encoding='utf-8') as f:\n"
        "                yield from f\n"
        "out, vocab, order, min_count, workers, *files = sys.argv[1:]\n"
        "trainer = Trainer(order=int(order), max_vocab_size=int(vocab), min_count=int(min_count))\n"
        "trainer.train(Lines(files), workers=int(workers))\n"
        "trainer.save(out)\n"
    )
    return [python, "-I", "-c", script, str(path), str(vocab_size), str(order), str(min_count),
            str(workers or os.cpu_count() or 1), *map(str, corpora)]


def train_reference_model(python: str, path: Path, corpora: list[Path], vocab_size: int,
                          order: int = 6, min_count: int = 2) -> None:
    """Train a model with BytePiece 0.6.3 itself (about 80 s for 13 MB on 2 cores)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    args = reference_training_command(python, tmp, corpora, vocab_size, order, min_count)
    proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          cwd=tempfile.gettempdir(), env=dict(os.environ, PYTHONUTF8="1"))
    if proc.returncode != 0:
        raise SystemExit(f"training the model with BytePiece 0.6.3 failed: "
                         f"{_last_line(proc.stderr)}")
    os.replace(tmp, path)


def run_reference(python: str, model: Path, corpora: dict[str, list[str]], repeat: int,
                  processes: int, workdir: Path) -> dict | Missing:
    """Time BytePiece 0.6.3 on each corpus's lines: single process and a pool.

    Returns ``{"version", "load_seconds", "corpora": {name: {"single", "multi", "ids"}}}``
    where ``ids`` is the list of id lists, one per line; or Missing if it failed.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="reference-") as tmp:
        request = {"model": str(model), "repeat": repeat, "processes": processes, "corpora": []}
        for name, lines in corpora.items():
            lines_file, ids_file = Path(tmp, f"{name}.json"), Path(tmp, f"{name}-ids.npz")
            lines_file.write_text(json.dumps(lines), encoding="utf-8")
            request["corpora"].append({"name": name, "lines": str(lines_file),
                                       "ids": str(ids_file)})
        request_file = Path(tmp, "request.json")
        request_file.write_text(json.dumps(request), encoding="utf-8")
        proc = subprocess.run([python, "-I", str(REFERENCE_WORKER), str(request_file)],
                              capture_output=True, text=True, cwd=tmp)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            return Missing(f"BytePiece 0.6.3 failed: {_last_line(proc.stderr)}", "failed")
        answer = json.loads(proc.stdout)
        for name, result in answer["corpora"].items():
            with np.load(Path(tmp, f"{name}-ids.npz")) as data:
                ids, lengths = data["ids"].tolist(), data["lengths"]
            bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
            result["ids"] = [ids[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return answer


# -- SentencePiece ---------------------------------------------------------------

#: Settings under which SentencePiece gives back its input exactly: no normalization,
#: whitespace kept as is (not collapsed, no space added in front), unknown characters
#: as bytes; lines up to 100000 bytes are trained on (longer ones would be skipped).
SENTENCEPIECE_LOSSLESS = dict(
    normalization_rule_name="identity", remove_extra_whitespaces=False, byte_fallback=True,
    add_dummy_prefix=False, split_by_whitespace=True, split_digits=False,
    max_sentence_length=100000, character_coverage=0.9995)


def import_sentencepiece():
    """The sentencepiece module, or Missing."""
    try:
        import sentencepiece
    except ImportError as e:
        return Missing(f"cannot import sentencepiece ({e}); pip install sentencepiece")
    return sentencepiece


def train_sentencepiece_model(spm, path: Path, corpora: list[Path], vocab_size: int) -> None:
    """A lossless unigram model: no normalization, whitespace kept as is, byte fallback."""

    def lines():
        for name in corpora:
            with open(name, encoding="utf-8") as f:
                yield from f

    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = path.with_suffix("")
    spm.SentencePieceTrainer.train(
        sentence_iterator=lines(), model_prefix=str(prefix), vocab_size=vocab_size,
        model_type="unigram", num_threads=os.cpu_count() or 1, minloglevel=2,
        **SENTENCEPIECE_LOSSLESS)
    if prefix.with_suffix(".model") != path:
        shutil.move(prefix.with_suffix(".model"), path)


# -- Hugging Face tokenizers -----------------------------------------------------

def import_tokenizers():
    """The tokenizers module, or Missing."""
    try:
        import tokenizers
    except ImportError as e:
        return Missing(f"cannot import tokenizers ({e}); pip install tokenizers")
    return tokenizers


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
