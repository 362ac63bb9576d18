"""``bytepiece compile``: callers pass the argument types it compiles, and after it a run
compiles nothing (seen through numba's compile events and cache counters, not timing)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from bytepiece._kernels.precompile import SIGNATURES, numba_types, specializations
from conftest import COMPILE_LISTENER

CORPUS = Path(__file__).parent.parent / "corpora" / "en.txt"

#: Runs the commands in one process (train, encode in every format and with sampling,
#: a line too long to hold, decode), recording numba's compilations; prints JSON:
#: the kernels' specializations in this process, what was compiled, the cache hits.
WORKLOAD = "import json, sys\n" + COMPILE_LISTENER + r"""
import bytepiece_cli._common as common
from bytepiece_cli.main import main

common.BLOCK_BYTES = 1 << 16  # so that long.txt's line is streamed (bytepiece.streaming)
corpus, folder = sys.argv[1], sys.argv[2]
text = open(corpus, "rb").read()[:400_000]
open(f"{folder}/c.txt", "wb").write(text)
open(f"{folder}/long.txt", "wb").write(text.replace(b"\n", b" ")[:300_000] + b"\n")
runs = [["train", f"{folder}/c.txt", "-o", f"{folder}/m.json", "--vocab-size", "600", "-q"],
        ["train", f"{folder}/c.txt", "-o", f"{folder}/u.json", "--vocab-size", "600", "-q",
         "--algorithm", "unigram"],
        ["encode", "-m", f"{folder}/m.json", f"{folder}/c.txt", "-o", f"{folder}/ids.txt"],
        ["encode", "-m", f"{folder}/m.json", f"{folder}/c.txt", "--alpha", "0.1", "--seed", "1",
         "-o", f"{folder}/sampled.txt"],
        ["encode", "-m", f"{folder}/m.json", f"{folder}/c.txt", "--format", "npy",
         "-o", f"{folder}/ids.npy", "-q"],
        ["encode", "-m", f"{folder}/m.json", f"{folder}/long.txt", "-o", f"{folder}/long1"],
        ["encode", "-m", f"{folder}/m.json", f"{folder}/long.txt", "--alpha", "0.1",
         "-o", f"{folder}/long2"],
        ["decode", "-m", f"{folder}/m.json", f"{folder}/ids.txt", "-o", f"{folder}/back.txt"],
        ["decode", "-m", f"{folder}/m.json", f"{folder}/ids.npy", "--format", "npy",
         "-o", f"{folder}/back2.txt"]]
for argv in runs:
    try:
        main(argv)
    except SystemExit as e:
        assert not e.code, (argv, e.code)
from bytepiece import Tokenizer
tokenizer = Tokenizer(f"{folder}/m.json")
tokenizer.encode(text.decode()[:50_000])
tokenizer.encode_batch([text.decode()[:50_000]] * 2)

import importlib, pkgutil
import bytepiece._kernels as package
seen, hits = {}, 0
for info in pkgutil.iter_modules(package.__path__):
    module = importlib.import_module(f"bytepiece._kernels.{info.name}")
    for name, value in vars(module).items():
        if hasattr(value, "signatures") and hasattr(value, "py_func") and \
                value.py_func.__module__ == module.__name__:
            seen[f"{info.name}.{name}"] = [str(s) for s in value.signatures]
            hits += sum(value.stats.cache_hits.values())
print(json.dumps({"seen": seen, "compiled": compiled, "hits": hits}))
"""


def _workload(tmp_path, env=None) -> dict:
    """Run WORKLOAD in a fresh interpreter; its JSON report."""
    out = subprocess.run([sys.executable, "-c", WORKLOAD, str(CORPUS), str(tmp_path)],
                         capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_specializations_expand_the_candidate_types():
    expanded = [args for name, args in specializations() if name == "best_path.segment_chunks"]
    assert len(expanded) == 6  # lengths u1/u2/u4 by ids u2/u4
    assert len(set(expanded)) == 6
    assert all("{" not in args for _, args in specializations())


def test_numba_types_reads_the_notation():
    from numba import types

    assert numba_types("u1[::1]ro, i8[::1], b1, f8, bytes") == (
        types.Array(types.uint8, 1, "C", readonly=True), types.Array(types.int64, 1, "C"),
        types.boolean, types.float64, types.Bytes(types.uint8, 1, "C", readonly=True))


def test_callers_pass_only_the_listed_argument_types(tmp_path):
    """Every kernel the commands called ran with types ``bytepiece compile`` compiles."""
    seen = _workload(tmp_path)["seen"]
    listed = {}
    for name, args in specializations():
        listed.setdefault(name, set()).add(str(numba_types(args)))
    used = {name: sigs for name, sigs in seen.items() if name in SIGNATURES and sigs}
    assert {"ngrams.count_slices", "lm.count_pieces", "viterbi.segment",
            "best_path.segment_chunks", "text_io.parse_id_lines", "suffixes.refine",
            "unigram.expected_counts"} <= set(used)
    for name, sigs in used.items():
        assert set(sigs) <= listed[name], name


def test_after_compile_runs_compile_nothing(tmp_path):
    cache = tmp_path / "numba-cache"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-m", "bytepiece", "compile"], capture_output=True,
                         text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(list(specializations())) + 1
    assert all(line.startswith("compiled") for line in lines[:-1])
    assert f"cache: {cache}" in lines[-1]
    work = tmp_path / "work"
    work.mkdir()
    report = _workload(work, env)
    assert report["compiled"] == []
    assert report["hits"] > 0
    again = subprocess.run([sys.executable, "-m", "bytepiece", "compile", "-q"],
                           capture_output=True, text=True, env=env, check=False)
    assert again.stdout.startswith(f"{len(lines) - 1} specializations")
    assert "(0 compiled," in again.stdout


def test_compile_builds_the_model_cache_entries_asked_for(tmp_path, monkeypatch):
    from bytepiece.cache import entry_path
    from conftest import invoke_cli

    model = Path(__file__).parent / "fixtures" / "models" / "ref-small.json"
    monkeypatch.setenv("BYTEPIECE_CACHE_DIR", str(tmp_path / "models"))
    result = invoke_cli(["compile", "-q", "-m", str(model)])
    assert result.exit_code == 0, result.stderr
    entry = entry_path(model.read_bytes())
    assert Path(entry).parent == tmp_path / "models" and Path(entry).exists()
    assert result.stdout.splitlines()[-1] == f"model {model}: cached in {entry}"
    monkeypatch.setenv("BYTEPIECE_CACHE_DIR", "")
    result = invoke_cli(["compile", "-q", "-m", str(model)])
    assert result.stdout.splitlines()[-1] == \
        f"model {model}: not cached (BYTEPIECE_CACHE_DIR is set to an empty string)"
