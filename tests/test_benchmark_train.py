"""The report helpers of benchmarks/train.py (no timing here: speed lives in the benchmark)."""

from __future__ import annotations

import doctest
import importlib
import sys

import pytest

from conftest import ROOT

BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture(scope="module")
def train_bench():
    """benchmarks/train.py as a module (it imports its siblings by their bare names)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("train")
    finally:
        sys.path.remove(str(BENCHMARKS))
        for name in ("train", "encode", "_peers"):
            sys.modules.pop(name, None)


def result(seconds, mb, compression, round_trip):
    return {"label": "x", "wall_seconds": seconds, "peak_rss_mb": mb, "vocab": 300,
            "compression": {c: {"bytes": b, "tokens": t} for c, (b, t) in compression.items()},
            "round_trip": round_trip}


def test_docstring_examples(train_bench):
    failures, tried = doctest.testmod(train_bench)
    assert tried >= 3 and failures == 0


def test_split_holds_out_the_last_lines(train_bench):
    lines = [f"{i}\n" for i in range(25)]
    train, held = train_bench.split_lines(lines, 0.1)
    assert train + held == lines
    assert held == lines[-2:]  # round(2.5) lines, taken from the end


def test_table_ratios_totals_and_failed_round_trip(train_bench):
    Missing = train_bench.Missing
    results = {
        "bytepiece": result(2.0, 100.0, {"zh": (8, 2), "en": (12, 2)}, {"zh": True, "en": True}),
        "reference": result(30.0, 450.0, {"zh": (8, 4), "en": (12, 6)},
                            {"zh": True, "en": False}),
        "hf-bpe": Missing("cannot import tokenizers", "missing"),
    }
    rows = train_bench.results_table(results, ["zh", "en"])
    assert rows[2] == "| bytepiece | 2.0 | 100 | 1.0x | 1.0x | 300 | 4.000 | 6.000 | 5.000 | yes |"
    assert rows[3] == ("| BytePiece 0.6.3 | 30.0 | 450 | 15.0x | 4.5x | 300 | 2.000 | 2.000 "
                       "| 2.000 | no (en) |")
    assert rows[4].startswith("| tokenizers byte-level BPE | missing | missing | – |")
    targets = train_bench.targets(results, {"same_pieces_and_counts": False})
    assert targets[0].endswith("1/15.0: **met**")
    assert targets[1].endswith("1/4.5: **met**")
    assert "not measured" in targets[2] and targets[-1].endswith("not met")
