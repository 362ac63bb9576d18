"""First runs compile on two cores (``bytepiece._kernels.prefetch``): a child process
compiles the kernels a command needs later, each kernel is compiled by one process
only, the results are those of a run without it, and nothing is left behind.

Each scenario runs in a fresh interpreter with an empty numba cache of its own."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bytepiece import Tokenizer
from bytepiece._kernels.precompile import ENCODE_KERNELS, SIGNATURES, signatures_of
from conftest import COMPILE_LISTENER, ROOT

MODELS = Path(__file__).parent / "fixtures" / "models"

#: Registers a listener of numba's compilations, runs the code of argv[1], then prints
#: JSON: the kernels this process compiled, and those it loaded from the cache.
HARNESS = "import json, sys\n" + COMPILE_LISTENER + r"""
exec(sys.argv[1])
from bytepiece._kernels.precompile import SIGNATURES, dispatcher
hits = [k for k in SIGNATURES if sum(dispatcher(k).stats.cache_hits.values())]
print(json.dumps({"compiled": compiled, "hits": hits}))
"""


def _run(code: str, tmp_path: Path) -> dict:
    """Run ``code`` under HARNESS with an empty numba cache; its report."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"), TMPDIR=str(tmp_path / "tmp"),
               BYTEPIECE_CACHE_DIR=str(tmp_path / "models"))
    (tmp_path / "tmp").mkdir(exist_ok=True)
    out = subprocess.run([sys.executable, "-c", HARNESS, code], capture_output=True,
                         text=True, env=env, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def _cli(*argv: str) -> str:
    return ("from bytepiece_cli.main import main\n"
            "try:\n"
            f"    main({list(argv)!r})\n"
            "except SystemExit as e:\n"
            "    assert not e.code, e.code\n")


def test_a_cold_train_shares_the_compiling_and_gives_the_same_model(tmp_path):
    from bytepiece import Trainer
    from bytepiece._kernels.precompile import TRAIN_KERNELS
    from bytepiece.corpus import Corpus

    corpus = tmp_path / "c.txt"
    corpus.write_text((ROOT / "corpora" / "mixed.txt").read_text()[:100_000])
    model = tmp_path / "m.json"
    report = _run(_cli("train", str(corpus), "-o", str(model), "--vocab-size", "600",
                       "--workers", "2", "-q"), tmp_path)
    compiled = set(report["compiled"]) & set(TRAIN_KERNELS)
    loaded = set(report["hits"]) & set(TRAIN_KERNELS)
    assert compiled and loaded, report  # this process compiled some, the child the others
    assert not compiled & loaded
    assert compiled | loaded == set(TRAIN_KERNELS)
    expected = tmp_path / "expected.json"
    trainer = Trainer(order=6, max_vocab_size=600)
    trainer.train(Corpus([corpus]), workers=2)
    trainer.save(expected)
    assert model.read_bytes() == expected.read_bytes()
    assert list((tmp_path / "tmp").iterdir()) == []  # no lock folder left


def test_a_cold_encode_gives_the_ids_of_a_warm_one(tmp_path):
    corpus = ROOT / "corpora" / "en.txt"
    model = MODELS / "ref-mixed-8k.json"
    first, second = tmp_path / "1.txt", tmp_path / "2.txt"
    report = _run(_cli("encode", "-m", str(model), str(corpus), "-o", str(first), "-q"),
                  tmp_path)
    segment = "best_path.segment_chunks"
    assert segment in report["compiled"] or segment in report["hits"]
    assert report["hits"], report  # the child compiled some of them
    again = _run(_cli("encode", "-m", str(model), str(corpus), "-o", str(second), "-q"),
                 tmp_path)
    assert again["compiled"] == []  # every kernel it needed was cached, the right types
    assert first.read_bytes() == second.read_bytes()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_child_compiles_what_this_process_does_not_hold(tmp_path):
    """Deterministic: this process takes one kernel's lock before the child starts; the
    child skips it and compiles the other, which this process then loads."""
    code = """
import os
from bytepiece._kernels import prefetch
from bytepiece._kernels.precompile import signatures_of
from bytepiece.trie import PieceTrie

p = prefetch.Prefetch(signatures_of(["automaton.candidate_lists", "automaton.failure_links"]))
p._take("automaton.candidate_lists")
assert p.start().child.wait() == 0
assert not prefetch._in_cache("automaton.candidate_lists")
assert prefetch._in_cache("automaton.failure_links")
PieceTrie.build([bytes([b]) for b in range(256)], list(range(3, 259)), [0.0] * 256)
folder = p.folder
p.stop()
assert not os.path.exists(folder)
"""
    report = _run(code, tmp_path)
    assert "automaton.failure_links" in report["hits"]
    assert "automaton.failure_links" not in report["compiled"]
    assert "automaton.candidate_lists" in report["compiled"]


def test_the_first_kernel_is_compiled_here_and_the_others_by_the_child(tmp_path):
    code = """
from bytepiece._kernels import prefetch
from bytepiece._kernels.precompile import dispatcher, numba_types, signatures_of

kernels = ["automaton.failure_links", "stream.path_through"]
p = prefetch.ahead(kernels, first="stream.path_through")
assert p.child.wait() == 0  # the child: the other one
assert [k for k in kernels if prefetch._in_cache(k)] == kernels
for k, a in signatures_of(kernels):
    dispatcher(k).compile(numba_types(a))
p.stop()
"""
    report = _run(code, tmp_path)
    assert "stream.path_through" in report["compiled"]
    assert "automaton.failure_links" in report["hits"]
    assert "automaton.failure_links" not in report["compiled"]


def test_nothing_is_started_when_the_cache_has_the_kernels(tmp_path):
    code = """
from bytepiece._kernels import prefetch
from bytepiece._kernels.precompile import dispatcher, numba_types, signatures_of
[(k, a)] = signatures_of(["stream.path_through"])
dispatcher(k).compile(numba_types(a))
assert prefetch.ahead(["stream.path_through"]) is None
p = prefetch.ahead(["stream.path_through", "automaton.failure_links"])
assert [k for k, _ in p.kernels] == ["automaton.failure_links"]
p.stop()
assert p.child.returncode is not None
"""
    _run(code, tmp_path)


@pytest.mark.parametrize("model", ["ref-small.json", "ref-mixed-8k.json"])
def test_the_candidate_types_are_those_of_the_model(model):
    tokenizer = Tokenizer(MODELS / model)
    trie = tokenizer._trie
    [(_, args)] = signatures_of(["best_path.segment_chunks"], tokenizer._model.pieces)
    types = [part.strip() for part in args.split(",")]
    assert types[-3] == f"{np.dtype(trie.cand_len.dtype).str[1:]}[::1]"
    assert types[-1] == f"{np.dtype(trie.cand_id.dtype).str[1:]}[::1]"


def test_kernels_of_unknown_types_are_left_out():
    assert signatures_of(ENCODE_KERNELS) == [
        (k, SIGNATURES[k][0]) for k in ENCODE_KERNELS if k != "best_path.segment_chunks"]


def test_a_kernel_not_in_the_cache_is_told_without_numba(tmp_path):
    code = """
import sys
from bytepiece._kernels import prefetch
assert prefetch._surely_missing("automaton.failure_links")
assert "numba" not in sys.modules
from bytepiece._kernels.precompile import dispatcher, numba_types, signatures_of
[(k, a)] = signatures_of(["automaton.failure_links"])
dispatcher(k).compile(numba_types(a))
assert not prefetch._surely_missing("automaton.failure_links")
assert prefetch._surely_missing("automaton.candidate_lists")
"""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
