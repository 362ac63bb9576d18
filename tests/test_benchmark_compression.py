"""compression.py's targets of issue 14: best peer, margins and their average, the vocabulary
rule, the time ratios, and the report's tables (no training here)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conftest import ROOT, import_scripts

BENCHMARKS = ROOT / "benchmarks"
#: compression.py and the siblings it imports, forgotten after (other tests import their own)
MODULES = ("compression", "scaling", "train", "encode", "_peers", "_report", "_plot")


@pytest.fixture(scope="module")
def scripts():
    yield from import_scripts(BENCHMARKS, MODULES)


@pytest.fixture(scope="module")
def c(scripts):
    return scripts["compression"]


def r(bpt, vocab=8000, seconds=1.0, corpus="en"):
    """A trained model's result: ``bpt`` bytes per token on ``corpus`` (1000 tokens)."""
    return {"vocab": vocab, "wall_seconds": seconds, "round_trip": {corpus: True},
            "compression": {corpus: {"bytes": round(bpt * 1000), "tokens": 1000}}}


def failed(c, reason="Vocabulary size too high (64000). Please set it to a value <= 41234."):
    return c.Missing(f"SentencePiece unigram failed (status 1): {reason}", "failed")


def test_the_best_peer_is_never_bytepiece_default(c):
    results = {"bytepiece": r(5.0), "bytepiece-unigram": r(3.9), "sp-unigram": r(3.5),
               "sp-bpe": r(3.7), "hf-bpe": r(3.6)}
    assert c.best_peer(results, "en") == ("sp-bpe", 3.7)
    target = c.compression_target(results, "en")
    assert target["peer"] == "sp-bpe" and target["met"] is True
    assert target["margin"] == pytest.approx(100 * (3.9 / 3.7 - 1))


def test_a_failed_or_missing_peer_is_not_the_best(c):
    results = {"bytepiece-unigram": r(3.0), "sp-unigram": failed(c), "sp-bpe": r(3.2),
               "hf-bpe": c.Missing("cannot import tokenizers")}
    assert c.best_peer(results, "en") == ("sp-bpe", 3.2)
    target = c.compression_target(results, "en")
    assert target["met"] is False and target["margin"] == pytest.approx(-6.25)
    assert c.best_peer({"sp-bpe": failed(c)}, "en") is None


def test_a_tie_with_the_best_peer_meets_the_cell_target(c):
    target = c.compression_target({"bytepiece-unigram": r(3.5), "hf-bpe": r(3.5)}, "en")
    assert target["met"] is True and target["margin"] == 0


def test_unigram_failing_where_a_peer_has_a_figure_fails_the_cell(c):
    target = c.compression_target({"bytepiece-unigram": c.Missing("x", "failed"),
                                   "sp-bpe": r(3.2)}, "en")
    assert target["met"] is False and target["margin"] is None
    nothing = c.compression_target({"bytepiece-unigram": r(3.0)}, "en")
    assert nothing["met"] is None and nothing["peer"] is None


def test_average_margin_skips_cells_without_one(c):
    assert c.average_margin([{"margin": 10.0}, {"margin": None}, {"margin": -4.0}]) == 3.0
    assert c.average_margin([{"margin": None}]) is None


def test_vocabulary_is_required_only_where_a_bpe_peer_reached_the_size(c):
    # SentencePiece unigram reaching the size does not make it required: it is no BPE peer
    free = c.vocab_target({"bytepiece-unigram": r(3, vocab=20000), "sp-unigram": r(3, 64000),
                           "sp-bpe": failed(c), "hf-bpe": r(3, vocab=39092)}, 64000)
    assert free["met"] is None and free["bpe"] == []
    # within 1%: 63360 of 64000 is enough for the peer and for bytepiece unigram
    needed = {"sp-bpe": r(3, vocab=63360), "bytepiece-unigram": r(3, vocab=63360)}
    assert c.vocab_target(needed, 64000) == {"ours": 63360, "bpe": ["sp-bpe"],
                                             "needed": 63360.0, "met": True}
    needed["bytepiece-unigram"] = r(3, vocab=63359)
    assert c.vocab_target(needed, 64000)["met"] is False
    needed["bytepiece-unigram"] = c.Missing("x", "failed")
    assert c.vocab_target(needed, 64000)["met"] is False


def test_time_ratio_per_cell_and_summed_per_corpus(c):
    runs = {("en", 8000): {"bytepiece": r(3, seconds=2.0), "bytepiece-unigram": r(3, seconds=5.0)},
            ("en", 16000): {"bytepiece": r(3, seconds=2.0),
                            "bytepiece-unigram": r(3, seconds=7.0)},
            ("zh", 8000): {"bytepiece": r(3, seconds=1.0, corpus="zh"),
                           "bytepiece-unigram": c.Missing("x", "failed")},
            ("zh", 16000): {"bytepiece": r(3, seconds=1.0, corpus="zh"),
                            "bytepiece-unigram": r(3, seconds=2.0, corpus="zh")}}
    assert c.time_target(runs["en", 8000]) == {"ours": 5.0, "base": 2.0, "ratio": 2.5,
                                               "met": True}
    assert c.time_target(runs["en", 16000])["met"] is False  # 3.5x
    assert c.time_target(runs["zh", 8000])["ratio"] is None
    ratios = c.time_ratios(runs, ["zh", "en"], [8000, 16000])
    assert ratios == {"zh": 2.0, "en": 3.0, "total": 14.0 / 5.0}


def grid(c):
    """Two cells of en: one met, one where bytepiece unigram is behind and slow."""
    return {("en", 8000): {"bytepiece": r(3.7, 7990, 2.0), "bytepiece-unigram": r(4.2, 8000, 4.0),
                           "sp-unigram": r(3.6), "sp-bpe": r(3.7), "hf-bpe": r(4.0)},
            ("en", 64000): {"bytepiece": r(3.8, 12000, 2.0),
                            "bytepiece-unigram": r(4.1, 40000, 8.0),
                            "sp-unigram": failed(c), "sp-bpe": r(4.2, 64000),
                            "hf-bpe": r(4.1, 34570)}}


def test_targets_table_gives_each_cell_its_figures_and_verdicts(c):
    rows = c.targets_tables(grid(c), ["en"], [8000, 64000])
    assert rows[0].startswith("| corpus | size | best peer | its bytes/token |")
    assert rows[2] == ("| en | 8000 | tokenizers BPE | 4.000 | 4.200 | +5.0% | yes | 8000 | "
                       "SP BPE, tokenizers BPE | yes | 4.0 | 2.0 | 2.00x | yes |")
    assert rows[3] == ("| en | 64000 | SP BPE | 4.200 | 4.100 | -2.4% | no | 40000 | SP BPE "
                       "| no | 8.0 | 2.0 | 4.00x | no |")


def test_targets_summary_counts_cells_and_averages_margins(c):
    lines = c.targets_summary(grid(c), ["en"], [8000, 64000])
    assert lines[0].endswith("1 of 2 cells: not met")
    assert "+1.3% over 2 cells: not met" in lines[1]
    assert lines[2].endswith("1 of 2 cells: not met")
    assert "1 of 2 cells, at most 4.00x" in lines[3] and "en 3.00x, total 3.00x" in lines[3]
    assert lines[3].endswith("not met")
    met = c.targets_summary(grid(c), ["en"], [8000])
    assert [line.rsplit(": ", 1)[1] for line in met] == ["**met**"] * 4


def test_targets_summary_without_unigram_says_not_measured(c):
    runs = {("en", 8000): {"bytepiece": r(3.7), "sp-bpe": r(3.7),
                           "bytepiece-unigram": c.Missing("left out", "skipped")}}
    lines = c.targets_summary(runs, ["en"], [8000])
    assert lines[0].endswith("0 of 1 cell: not met")
    assert lines[1].endswith("not measured") and lines[3].endswith("not measured")


def test_bench_table_and_report_sections(c):
    bench = {"bytepiece": r(4.0, 32000, 10.0, "bench"),
             "bytepiece-unigram": r(4.4, 32000, 25.0, "bench"),
             "sp-unigram": r(3.0, 32000, 40.0, "bench"), "sp-bpe": r(3.2, 32000, 5.0, "bench"),
             "hf-bpe": c.Missing("cannot import tokenizers")}
    rows = c.bench_table(bench, "bench", 32000)
    assert rows[3] == "| bytepiece unigram | 32000 | 4.400 | 25.0 | 2.50x |"
    assert rows[6] == "| tokenizers byte-level BPE | – | missing | missing | – |"
    args = c.parse_args(["--corpora", "en", "--sizes", "8000,64000"])
    info = {"sizes": {"en": {"train": 4e6, "test": 5e5}, "bench": {"train": 2e7, "test": 5e5}},
            "plot": "compression.png", "settings": {}, "bench_corpus": "corpora/bench/x.txt",
            "command": "python benchmarks/compression.py", "setup": {}, "elapsed": 1.0}
    report = c.render(args, info, {**grid(c), ("bench", 32000): bench})
    assert "### bytepiece unigram against the targets of issue 14" in report
    assert "## The benchmark corpus at 32000 pieces" in report
    assert "| bench | 32000 | SP BPE | 3.200 | 4.400 | +37.5% | yes |" in report
    assert "| en | bytepiece unigram | 4.0 | 8.0 |" in report  # the time table


def test_options_select_corpora_sizes_and_the_bench_run(c):
    args = c.parse_args(["--corpora", "en", "--sizes", "8000", "--no-bench"])
    assert (args.corpora, args.vocab_sizes, args.no_bench) == (["en"], [8000], True)
    only = c.parse_args(["--bench-only", "--bench-mb", "2"])
    assert only.corpora == [] and only.bench_mb == 2 and only.bench_vocab_size == 32000
    assert c.parse_args(["--skip", "bytepiece-unigram"]).skip == {"bytepiece-unigram"}
    with pytest.raises(SystemExit):
        c.parse_args(["--bench-only", "--no-bench"])


def test_bytepiece_unigram_trains_only_where_a_benchmark_asks(scripts, tmp_path):
    train = scripts["train"]
    options = SimpleNamespace(vocab_size=8000, workers=2, skip={"reference"},
                              reference_python=None, interval=0.05)
    keys = lambda listed: [x.key if hasattr(x, "key") else x[0] for x in listed]  # noqa: E731
    assert "bytepiece-unigram" not in keys(train.trainers(options, [tmp_path / "t.txt"], tmp_path))
    options.include = {"bytepiece-unigram"}
    listed = train.trainers(options, [tmp_path / "t.txt"], tmp_path)
    assert keys(listed)[:2] == ["bytepiece", "bytepiece-unigram"]
    assert listed[1].argv[-2:] == ["--algorithm", "unigram"] and "--workers" in listed[1].argv
    options.skip.add("bytepiece-unigram")
    skipped = train.trainers(options, [tmp_path / "t.txt"], tmp_path)[1]
    assert skipped[0] == "bytepiece-unigram" and str(skipped[1]) == "skipped"
