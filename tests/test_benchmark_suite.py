"""The pure parts of the benchmark suite: compression.py's split and table, scaling.py's
table, run_all.py's commands, the benchmark-corpus builder, and how a missing peer is shown.
No timing here: speed lives in the benchmarks."""

from __future__ import annotations

import doctest
import sys
from types import SimpleNamespace

import pytest

from conftest import CORPORA, ROOT, import_scripts

BENCHMARKS = ROOT / "benchmarks"
MODULES = ("compression", "scaling", "run_all", "train", "encode", "stream", "convert", "_peers",
           "_plot", "_report", "unigram_choices")


@pytest.fixture(scope="module")
def bench():
    """The benchmark scripts as modules."""
    yield from import_scripts(BENCHMARKS, MODULES)


@pytest.fixture(scope="module")
def builder():
    yield from (modules["build_bench_corpus"] for modules in import_scripts(CORPORA, ["build_bench_corpus"]))


def result(vocab, nbytes, tokens, corpus="en", lossless=True, **more):
    return {"vocab": vocab, "compression": {corpus: {"bytes": nbytes, "tokens": tokens}},
            "round_trip": {corpus: lossless}, **more}


@pytest.mark.parametrize("name", ["compression", "scaling", "run_all", "_report", "stream",
                                  "convert"])
def test_docstring_examples(bench, name):
    failures, tried = doctest.testmod(bench[name])
    assert tried >= 1 and failures == 0


def test_unigram_choices_report_compares_each_variant_with_the_defaults(bench):
    choices = bench["unigram_choices"]
    args = choices.parse_args(["--corpora", "zh", "en", "--sizes", "8000",
                               "--variants", "defaults", "shrink 0.75"])
    results = {"defaults": {("zh", 8000): (4.0, 8000, 1.0), ("en", 8000): (5.0, 8000, 2.0)},
               "shrink 0.75": {("zh", 8000): (4.4, 7950, 1.5), ("en", 8000): (4.5, 7000, 2.5)}}
    info = {"setup": {"date": "d"}, "command": "c", "elapsed": 1.0}
    lines = choices.render(args, results, info).splitlines()
    row = next(line for line in lines if line.startswith("| shrink 0.75 |"))
    # (4.4/4.0 + 4.5/5.0) / 2 - 1 = 0; the en cell fell short of 99% of 8000
    assert row == "| shrink 0.75 | 4.400 | 4.500 (vocab 7000) | +0.0% | 4 |"
    assert next(line for line in lines if line.startswith("| defaults |")) == \
        "| defaults | 4.000 | 5.000 | +0.0% | 3 |"


def test_builder_docstring_examples(builder):
    failures, tried = doctest.testmod(builder)
    assert tried >= 4 and failures == 0


# -- compression.py: the split ---------------------------------------------------

def test_split_holds_out_every_tenth_block_and_never_trains_on_it(bench):
    lines = [f"line {i:04d}\n" for i in range(1000)]  # 10 bytes each: 200 blocks of 5 lines
    train, test = bench["compression"].split_corpus(lines, 10**6, 10**6, block_bytes=50)
    assert not set(train) & set(test)
    assert sorted(train + test) == lines
    held_blocks = sorted({int(line[5:9]) // 5 for line in test})
    assert held_blocks == list(range(9, 200, 10))


def test_split_samples_the_whole_corpus_down_to_the_budget(bench):
    lines = [f"line {i:04d}\n" for i in range(1000)]
    train, test = bench["compression"].split_corpus(lines, 2000, 200, block_bytes=50)
    assert len("".join(train)) == 2000 and len("".join(test)) == 200
    # an even stride, not a prefix: the training part reaches the end of the corpus
    assert int(train[0][5:9]) == 0 and int(train[-1][5:9]) > 900
    assert len({int(line[5:9]) // 5 for line in test}) == 4
    assert not set(train) & set(test)


def test_split_of_a_corpus_too_small(bench):
    with pytest.raises(ValueError, match="cannot be split"):
        bench["compression"].split_corpus(["short\n"], 100, 100, block_bytes=50)
    train, test = bench["compression"].split_corpus(["a\n", "b\n", "c\n"], 100, 100,
                                                     block_bytes=2)
    assert (train, test) == (["a\n", "b\n"], ["c\n"])  # fewer than 10 blocks: the last one


# -- compression.py: the table ---------------------------------------------------

def test_compression_table_shows_short_vocabularies_failures_and_missing_peers(bench):
    c, Missing = bench["compression"], bench["_peers"].Missing
    too_high = Missing("SentencePiece unigram failed (status 1): RuntimeError: ... Vocabulary "
                       "size too high (64000). Please set it to a value <= 41234.", "failed")
    runs = {
        ("zh", 8000): {"bytepiece": result(7995, 90, 20, "zh"),
                       "sp-unigram": result(8000, 90, 30, "zh", lossless=False),
                       "hf-bpe": Missing("cannot import tokenizers")},
        ("zh", 64000): {"bytepiece": result(50000, 90, 18, "zh"), "sp-unigram": too_high,
                        "hf-bpe": Missing("cannot import tokenizers")},
    }
    rows = c.results_table(runs, ["zh"], [8000, 64000])
    assert rows[0] == "| corpus | system | 8000 | 64000 |"
    assert rows[2:] == [
        "| zh | bytepiece | 4.500 | 5.000 (vocab 50000) |",
        "| zh | SentencePiece unigram | 3.000 (not lossless) | failed: at most 41234 pieces |",
        "| zh | tokenizers byte-level BPE | missing | missing |",
    ]


def test_compression_plot_draws_every_corpus(bench, tmp_path):
    c = bench["compression"]
    runs = {("en", v): {"bytepiece": result(v, 4 * v, 1000), "sp-bpe": result(v, 3 * v, 1000)}
            for v in (8000, 16000)}
    path = c.plot(runs, ["en"], [8000, 16000], tmp_path / "c.png")
    assert path == str(tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- scaling.py ------------------------------------------------------------------

def test_scaling_tables_growth_and_time_budget(bench):
    s = bench["scaling"]
    Missing = bench["_peers"].Missing
    runs = {
        1.0: {"bytepiece": {"wall_seconds": 1.0, "peak_rss_mb": 100.0, "vocab": 32000},
              "reference": {"wall_seconds": 10.0, "peak_rss_mb": 400.0, "vocab": 31990},
              "sp-bpe": Missing("cannot import sentencepiece")},
        16.0: {"bytepiece": {"wall_seconds": 8.0, "peak_rss_mb": 400.0, "vocab": 32000},
               "reference": s.over_budget(16.0, 4.0),
               "sp-bpe": Missing("cannot import sentencepiece")},
    }
    time_rows = s.measure_table(runs, [1.0, 16.0], "wall_seconds", "{:.1f}")
    assert time_rows[2] == "| bytepiece | 1.0 | 8.0 | 0.75 |"
    assert time_rows[3] == "| BytePiece 0.6.3 | 10.0 | skipped: over time budget | – |"
    assert time_rows[4] == "| SentencePiece BPE | missing | missing | – |"
    memory_rows = s.measure_table(runs, [1.0, 16.0], "peak_rss_mb", "{:.0f}")
    assert memory_rows[2] == "| bytepiece | 100 | 400 | 0.50 |"
    assert s.vocab_line(runs, [1.0, 16.0], 32000).startswith("Every model reached")
    runs[16.0]["bytepiece"]["vocab"] = 20000
    assert s.vocab_line(runs, [1.0, 16.0], 32000).endswith("bytepiece at 16 MB: 20000.")


def test_scaling_runs_the_reference_only_within_its_budget(bench):
    args = bench["scaling"].parse_args(["--sizes", "16,1,4", "--reference-max-mb", "4"])
    assert args.sizes == [1.0, 4.0, 16.0]
    assert [s > args.reference_max_mb for s in args.sizes] == [False, False, True]


# -- missing peers ---------------------------------------------------------------

def test_a_missing_peer_is_reported_not_left_out(bench, monkeypatch, tmp_path):
    train, peers = bench["train"], bench["_peers"]
    monkeypatch.setattr(peers, "import_tokenizers",
                        lambda: peers.Missing("cannot import tokenizers (test)"))
    options = SimpleNamespace(
        vocab_size=8000, workers=1, skip=set(), reference_python=str(tmp_path / "no-python"),
        interval=0.05)
    listed = train.trainers(options, [tmp_path / "text.txt"], tmp_path)
    missing = {item[0]: item[1] for item in listed if isinstance(item, tuple)}
    assert set(missing) == {"reference", "hf-bpe"}
    assert str(missing["hf-bpe"]) == "missing" and "(test)" in missing["hf-bpe"].reason
    assert "no interpreter" in missing["reference"].reason


def test_a_missing_matplotlib_is_reported(bench, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises
    drawn = bench["scaling"].plot({1.0: {}}, [1.0], tmp_path / "s.png")
    assert isinstance(drawn, bench["_peers"].Missing) and "matplotlib" in drawn.reason
    assert not (tmp_path / "s.png").exists()


# -- the benchmark corpus ----------------------------------------------------------

@pytest.fixture
def fake_stdlib(tmp_path):
    """A standard library folder: a top-level module, packages, tests, a non-UTF-8 file."""
    lib = tmp_path / "lib"
    for path, text in {"top.py": "TOP = 1\n", "pkg/__init__.py": "X = 1\r\nY = 2",
                       "pkg/sub/mod.py": "def f():\n    return 'é'\n",
                       "test/test_x.py": "import unittest\n" * 50,
                       "site-packages/other.py": "OTHER = 1\n"}.items():
        (lib / path).parent.mkdir(parents=True, exist_ok=True)
        (lib / path).write_text(text, encoding="utf-8", newline="")
    (lib / "pkg" / "latin1.py").write_bytes(b"# caf\xe9\n")
    return lib


def test_stdlib_code_takes_package_files_in_order(builder, fake_stdlib):
    text, used, skipped = builder.stdlib_code(fake_stdlib)
    assert (used, skipped) == (3, 1)
    headers = [line for line in text.splitlines() if line.startswith("# =====")]
    assert headers == ["# ===== Lib/pkg/__init__.py =====", "# ===== Lib/pkg/sub/mod.py =====",
                       "# ===== Lib/test/test_x.py ====="]
    assert "X = 1\nY = 2\n" in text and "\r" not in text


def test_build_is_deterministic_and_mixed_in_every_part(builder, fake_stdlib):
    first, info = builder.build(0.3, stdlib=fake_stdlib)
    second, _ = builder.build(0.3, stdlib=fake_stdlib)
    assert first == second
    assert abs(len(first) - 300_000) < 3 * builder.CHUNK_BYTES
    code = info["sources"]["code"]
    for name in ("zh", "en"):  # the fake stdlib is small: zh and en share the rest
        assert info["sources"][name] == pytest.approx((300_000 - code) / 2,
                                                      abs=2 * builder.CHUNK_BYTES)
    text = first.decode("utf-8")
    for part in (text[:len(text) // 3], text[-len(text) // 3:]):
        assert "的" in part and " the " in part and "def " in part


def test_share_out_gives_what_a_source_lacks_to_the_others(builder):
    assert builder.share_out(32, [2, 7, 100]) == [2, 7, 23]
    assert sum(builder.share_out(10**6, [10**6, 10**6, 10**6])) == 10**6


# -- stream.py: its inputs ----------------------------------------------------------

def test_stream_long_line_is_one_line_of_whole_characters(bench):
    line = bench["stream"].long_line(3_000_000)
    assert 2_990_000 < len(line) <= 3_000_000
    assert b"\n" not in line
    line.decode("utf-8")  # cut between characters
    assert "中".encode() in line and b" the " in line


def test_stream_repeat_command_writes_what_it_says(bench, tmp_path):
    import subprocess

    command, nbytes = bench["stream"].repeat_command(20_000_000)
    out = subprocess.run(["bash", "-c", command], capture_output=True, check=True).stdout
    assert len(out) == nbytes and abs(nbytes - 20_000_000) < 9_000_000
