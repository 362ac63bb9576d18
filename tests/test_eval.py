"""``bytepiece eval``: every figure on tiny inputs computed by hand, the SentencePiece and
Hugging Face adapters, and the command (table, JSON, Markdown, several models, errors)."""

from __future__ import annotations

import gzip
import json
import sys
import unicodedata

import numpy as np
import pytest

from bytepiece import Tokenizer, Trainer
from bytepiece.evaluate import (CorpusTally, Figures, byte_lines_not_round_tripped,
                                count_lines, fallback_ids, split_lines)
from bytepiece.evaluate_models import (BytePieceModel, HuggingFaceModel, SentencePieceModel,
                                       load_eval_model, model_kind)
from bytepiece.model import Model
from conftest import CORPORA, invoke_cli, make_model

TINY = [CORPORA / "tiny" / name for name in ("en.txt", "zh.txt", "code.py", "unicode-edge.txt")]
#: "ab" and "中" are pieces; every other byte is a piece of its own (count 1)
HAND_PIECES = {b"ab": 50, "中".encode(): 5}


def figures_of(model, text: str) -> Figures:
    """Figures of an adapter on one text, as ``bytepiece eval`` adds them up."""
    tally = CorpusTally(model.vocab_size, model.fallback, model.reference, model.unknown)
    encoded = model.encode_block(text, text.encode())
    tally.add(text, encoded.ids, encoded.seconds, encoded.bad_lines)
    return tally.figures()


@pytest.fixture(scope="module")
def hand_model():
    return BytePieceModel(make_model(HAND_PIECES), threads=1)


# -- every figure, by hand -----------------------------------------------------

def test_figures_by_hand(hand_model):
    # line 1 "abab\n": ab ab \n; line 2 "中é\n": 中 \xc3 \xa9 \n (é is no piece: two bytes)
    f = figures_of(hand_model, "abab\n中é\n")
    assert (f.bytes, f.characters, f.lines, f.tokens) == (11, 8, 2, 7)
    assert f.bytes_per_token == 11 / 7 and f.characters_per_token == 8 / 7
    assert f.tokens_per_line == 3.5
    assert f.fallback_bytes == 2 and f.fallback_share == 2 / 11
    assert f.distinct_pieces == 5  # ab, \n, 中, \xc3, \xa9
    assert f.vocab_size == 256 + 2 + 3
    assert f.round_trips and f.nfc_stable and f.round_trip_reference == "text"
    assert f.seconds > 0 and f.mb_per_second == 11 / 1e6 / f.seconds


def test_ascii_single_bytes_are_not_fallback(hand_model):
    f = figures_of(hand_model, "xyz\nq")  # x y z \n | q: five single ASCII bytes
    assert (f.tokens, f.lines, f.fallback_bytes, f.fallback_share) == (5, 2, 0, 0.0)
    assert f.tokens_per_line == 2.5


def test_original_bytes_are_counted_and_nfc_text_round_trips(hand_model):
    # "e" + U+0301 (4 bytes, 3 characters with the newline) is encoded as NFC "é\n":
    # \xc3 \xa9 \n, three tokens of which two fallback bytes
    f = figures_of(hand_model, "e\u0301\n")
    assert (f.bytes, f.characters, f.tokens, f.fallback_bytes) == (4, 3, 3, 2)
    assert f.bytes_per_token == 4 / 3 and f.fallback_share == 0.5
    assert f.round_trips and not f.nfc_stable and f.round_trip_reference == "NFC text"


def test_ratios_of_nothing_are_none():
    f = CorpusTally(10, np.zeros(10, bool)).figures()
    assert (f.bytes_per_token, f.characters_per_token, f.tokens_per_line, f.fallback_share,
            f.mb_per_second) == (None,) * 5
    assert f.round_trips and f.distinct_pieces == 0
    assert Figures(2_000_000, 0, 1, 1, 0, 1, 10, 0.5, 0, True, "text").mb_per_second == 4.0


def test_tally_adds_blocks_up(hand_model):
    whole = figures_of(hand_model, "abab\n中é\nxyz\n")
    tally = CorpusTally(hand_model.vocab_size, hand_model.fallback)
    for block in ("abab\n中é\n", "xyz\n"):
        encoded = hand_model.encode_block(block)
        tally.add(block, encoded.ids, encoded.seconds, encoded.bad_lines)
    parts = tally.figures()
    for name in ("bytes", "characters", "lines", "tokens", "fallback_bytes", "distinct_pieces"):
        assert getattr(parts, name) == getattr(whole, name), name


def test_lines_and_fallback_helpers():
    assert count_lines("a\n\nb") == 3 and count_lines("\n") == 1 and count_lines("") == 0
    assert split_lines("a\rb\n\x85c\n") == ["a\rb\n", "\x85c\n"]
    assert split_lines("") == []
    assert fallback_ids([None, b"\x7f", b"\x80", b"\xff", b"\xc3\xa9"]).tolist() == \
        [False, False, True, True, False]


def test_round_trip_check_finds_wrong_ids():
    tokenizer = Tokenizer(make_model(HAND_PIECES))
    table = tokenizer.piece_table()
    data = "abab\nxy\n".encode()
    buf = np.frombuffer(data, np.uint8)
    ends = np.array([5, 8], np.int64)
    ids, token_ends = tokenizer.encode_buffer(buf, ends)
    ids = ids.astype(np.int64)
    assert byte_lines_not_round_tripped(buf, ends, ids, token_ends, table) == 0
    wrong = ids.copy()
    wrong[-1] = tokenizer.piece_to_id(b"z")  # "xy\n" -> "xyz"
    assert byte_lines_not_round_tripped(buf, ends, wrong, token_ends, table) == 1
    # the right bytes overall, but the first line's last token counted in the second
    shifted = token_ends.copy()
    shifted[0] -= 1
    assert byte_lines_not_round_tripped(buf, ends, ids, shifted, table) == 2


# -- SentencePiece and Hugging Face --------------------------------------------

def _train_sp(folder, name, vocab_size=300, **options):
    spm = pytest.importorskip("sentencepiece")
    text = (CORPORA / "en.txt").read_bytes()[:60_000].decode("utf-8", "ignore")
    (folder / "corpus.txt").write_text(text, encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(folder / "corpus.txt"),
                                   model_prefix=str(folder / name), model_type="unigram",
                                   vocab_size=vocab_size, num_threads=1, minloglevel=2, **options)
    return str(folder / f"{name}.model")


@pytest.fixture(scope="module")
def sp_default(tmp_path_factory):
    """SentencePiece's defaults: nmt_nfkc, a dummy prefix, whitespace collapsed."""
    return _train_sp(tmp_path_factory.mktemp("sp"), "default")


@pytest.fixture(scope="module")
def sp_lossless(tmp_path_factory):
    """No normalization, byte fallback: SentencePiece gives every line back."""
    return _train_sp(tmp_path_factory.mktemp("sp"), "lossless", 556, byte_fallback=True,
                     normalization_rule_name="identity", add_dummy_prefix=False,
                     remove_extra_whitespaces=False)


def test_sentencepiece_that_normalizes_does_not_round_trip(sp_default):
    model = load_eval_model(sp_default)
    assert isinstance(model, SentencePieceModel) and model_kind(sp_default) == "sentencepiece"
    # line 1 loses its newline, line 2 a space; line 3 (no newline, one space) comes back
    f = figures_of(model, "the sea\nthe  sea\nthe sea")
    assert f.lines == 3 and f.lines_not_round_tripped == 2 and not f.round_trips
    assert f.bytes == 24 and f.characters == 24
    assert f.tokens == sum(map(len, model.sp.encode(["the sea\n", "the  sea\n", "the sea"])))


def test_sentencepiece_unknown_tokens(sp_default):
    model = load_eval_model(sp_default)
    # without byte fallback, a run of characters it does not know is one <unk>:
    # "中文" -> ▁ <unk>, "中 文" -> ▁ <unk> ▁ <unk>
    f = figures_of(model, "中文\n中 文\n")
    assert (f.tokens, f.unknown_tokens, f.lines_not_round_tripped) == (6, 3, 2)
    assert f.bytes == 7 + 8 and f.bytes_per_token == 15 / 6


def test_sentencepiece_byte_fallback(sp_lossless):
    model = load_eval_model(sp_lossless)
    # "中" is not in an English vocabulary: <0xE4> <0xB8> <0xAD>, and the newline <0x0A>
    f = figures_of(model, "中\n")
    assert (f.bytes, f.tokens, f.fallback_bytes, f.distinct_pieces) == (4, 4, 3, 4)
    assert f.fallback_share == 0.75 and f.round_trips and f.unknown_tokens == 0
    f = figures_of(model, "the  sea\n")
    assert f.round_trips and f.fallback_bytes == 0


def test_huggingface_conversion_gives_bytepiece_figures(tmp_path, hand_model):
    pytest.importorskip("tokenizers")
    from bytepiece.convert.huggingface import to_huggingface_json

    path = tmp_path / "tokenizer.json"
    path.write_bytes(to_huggingface_json(Model.from_dict(make_model(HAND_PIECES))))
    model = load_eval_model(str(path))
    assert isinstance(model, HuggingFaceModel) and model.vocab_size == hand_model.vocab_size
    # ByteLevel characters: the fallback pieces are the same ids
    assert model.fallback.tolist() == hand_model.fallback.tolist()
    ours, theirs = figures_of(hand_model, "abab\n中é\n"), figures_of(model, "abab\n中é\n")
    for name in ("bytes", "characters", "lines", "tokens", "fallback_bytes",
                 "distinct_pieces", "lines_not_round_tripped"):
        assert getattr(ours, name) == getattr(theirs, name), name


def test_huggingface_word_level_does_not_round_trip(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tokenizer = tokenizers.Tokenizer(WordLevel({"hello": 0, "world": 1, "[UNK]": 2},
                                               unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(tmp_path / "words.json"))
    model = load_eval_model(str(tmp_path / "words.json"))
    # "hello world\n" -> hello world; "hello\n" -> hello: both lose their newline
    f = figures_of(model, "hello world\nhello\n")
    assert (f.tokens, f.lines, f.lines_not_round_tripped, f.fallback_bytes) == (3, 2, 2, 0)
    assert f.distinct_pieces == 2 and f.vocab_size == 3 and f.unknown_tokens == 0
    f = figures_of(model, "hello there\n")  # "there" is [UNK]
    assert (f.tokens, f.unknown_tokens) == (2, 1)


def test_model_kinds(tmp_path, hand_model):
    bp = tmp_path / "m.json"
    Model.from_dict(make_model(HAND_PIECES)).save(bp)
    assert model_kind(str(bp)) == "bytepiece"
    (tmp_path / "hf.json").write_text('{"version": "1.0", "model": {}}')
    assert model_kind(str(tmp_path / "hf.json")) == "huggingface"
    (tmp_path / "x.model").write_bytes(b"\x0a\x05hello")
    assert model_kind(str(tmp_path / "x.model")) == "sentencepiece"
    (tmp_path / "junk").write_bytes(b"junk")
    assert model_kind(str(tmp_path / "junk")) == "bytepiece"


# -- the command -----------------------------------------------------------------

def run(args, input=None):
    """Run the CLI in-process; returns (exit status, stdout text, stderr text)."""
    result = invoke_cli(args, input=input,
                                catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained here on corpora/tiny, and its tokenizer."""
    texts = []
    for path in TINY[:3]:
        texts += path.read_text(encoding="utf-8").splitlines(keepends=True)
    trainer = Trainer(order=4, max_vocab_size=400)
    trainer.train(texts)
    path = tmp_path_factory.mktemp("trained") / "tiny.json"
    trainer.save(path)
    return str(path), Tokenizer(path)


def _expected(tokenizer, path) -> dict:
    """The figures of a corpus computed the slow way, through the Tokenizer API."""
    text = path.read_bytes().decode()  # CRLF stays
    lines = split_lines(text)
    batch = tokenizer.encode_batch(lines)
    ids = [i for line in batch for i in line]
    pieces = [tokenizer.id_to_piece(i) for i in ids]
    return {"bytes": len(text.encode()), "characters": len(text), "lines": len(lines),
            "tokens": len(ids), "distinct_pieces": len(set(ids)),
            "fallback_bytes": sum(1 for p in pieces if len(p) == 1 and p[0] >= 0x80),
            "nfc_stable": unicodedata.is_normalized("NFC", text),
            "round_trips": [tokenizer.decode(b) for b in batch] ==
            [unicodedata.normalize("NFC", line) for line in lines]}


def test_eval_json(trained):
    path, tokenizer = trained
    status, out, err = run(["eval", "-m", path, *TINY, "--json"])
    assert status == 0, err
    rows = json.loads(out)
    assert [r["corpus"] for r in rows] == [str(p) for p in TINY]
    for row, corpus in zip(rows, TINY):
        expected = _expected(tokenizer, corpus)
        assert {k: row[k] for k in expected} == expected
        assert row["model"] == path and row["model_type"] == "bytepiece"
        assert row["vocab_size"] == tokenizer.vocab_size
        assert row["bytes_per_token"] == row["bytes"] / row["tokens"]
        assert row["round_trip_reference"] == ("text" if row["nfc_stable"] else "NFC text")
    assert [r["nfc_stable"] for r in rows] == [True, True, True, False]


def test_eval_table_and_markdown(trained):
    path, tokenizer = trained
    corpus = TINY[1]
    status, out, err = run(["eval", "-m", path, corpus, TINY[3]])
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["corpus", "model", "bytes/token", "chars/token", "tokens/line",
                                "fallback", "pieces", "used", "MB/s", "round-trip"]
    expected = _expected(tokenizer, corpus)
    cells = lines[1].split()
    assert cells[:2] == [str(corpus), path]
    assert cells[2] == f"{expected['bytes'] / expected['tokens']:.3f}"
    assert cells[4] == f"{expected['tokens'] / expected['lines']:.2f}"
    assert cells[6] == f"{expected['distinct_pieces']:,}/{tokenizer.vocab_size:,}"
    assert cells[-1] == "yes" and lines[2].split()[-2:] == ["NFC", "text"]
    assert any(line.startswith("not NFC: ") for line in lines[3:])
    status, md, err = run(["eval", "-m", path, corpus, "--markdown"])
    assert status == 0, err
    md_lines = md.splitlines()
    assert md_lines[0].startswith("| corpus | model | bytes/token")
    assert md_lines[1] == "|---|---|---:|---:|---:|---:|---:|---:|---|"
    assert [c.strip() for c in md_lines[2].strip("|").split("|")][:3] == \
        [str(corpus), path, cells[2]]


def test_eval_several_models_and_gz(trained, tmp_path, sp_default):
    pytest.importorskip("tokenizers")
    from bytepiece.convert.huggingface import to_huggingface_json

    path, tokenizer = trained
    hf = tmp_path / "tokenizer.json"
    hf.write_bytes(to_huggingface_json(Model.load(path)))
    gz = tmp_path / "en.txt.gz"
    gz.write_bytes(gzip.compress(TINY[0].read_bytes()))
    status, out, err = run(["eval", "-m", path, "-m", hf, "-m", sp_default, TINY[0], gz,
                            "--json"])
    assert status == 0, err
    rows = json.loads(out)
    assert [(r["corpus"], r["model_type"]) for r in rows] == [
        (str(c), kind) for c in (TINY[0], gz)
        for kind in ("bytepiece", "huggingface", "sentencepiece")]
    plain, packed = rows[:3], rows[3:]
    for a, b in zip(plain, packed):  # the .gz file counts as its text
        assert {k: v for k, v in a.items() if k not in ("corpus", "seconds", "mb_per_second")} \
            == {k: v for k, v in b.items() if k not in ("corpus", "seconds", "mb_per_second")}
    assert plain[0]["round_trips"] and plain[1]["round_trips"]
    assert plain[2]["lines_not_round_tripped"] > 0  # SentencePiece's defaults drop newlines
    assert plain[0]["unknown_tokens"] == plain[1]["unknown_tokens"] == 0
    assert plain[0]["bytes"] == plain[2]["bytes"] == TINY[0].stat().st_size
    status, out, err = run(["eval", "-m", path, "-m", sp_default, TINY[0]])
    assert status == 0 and "no: " in out.splitlines()[2], out


def test_eval_stdin_empty_and_invalid_utf8(trained):
    path, _ = trained
    status, out, err = run(["eval", "-m", path, "-", "--json"], input="abc\nabc\n")
    assert status == 0, err
    assert json.loads(out)[0]["corpus"] == "-" and json.loads(out)[0]["lines"] == 2
    status, out, err = run(["eval", "-m", path, "-", "--json"], input="")
    row = json.loads(out)[0]
    assert status == 0 and row["tokens"] == 0 and row["bytes_per_token"] is None
    status, out, err = run(["eval", "-m", path, "-"], input="")
    assert status == 0 and out.splitlines()[1].split()[2:5] == ["-", "-", "-"]
    bad = CORPORA / "tiny" / "invalid-utf8.bin"
    status, out, err = run(["eval", "-m", path, bad])
    assert status == 1 and out == ""
    assert err == (f"bytepiece: error: {bad}: invalid UTF-8 at byte 141 (use --errors "
                   f"replace or --errors ignore to go on)\n")
    status, out, err = run(["eval", "-m", path, bad, "--errors", "replace", "--json"])
    text = bad.read_bytes().decode("utf-8", "replace")
    assert status == 0 and json.loads(out)[0]["bytes"] == len(text.encode())


@pytest.mark.parametrize("args,message", [
    (["-m", "{model}", "{tmp}/missing.txt"],
     "cannot read {tmp}/missing.txt: No such file or directory"),
    (["-m", "{tmp}/missing.json", "{corpus}"],
     "model {tmp}/missing.json: cannot read: No such file or directory"),
    (["-m", "{tmp}/bad.json", "{corpus}"], "model {tmp}/bad.json: not a JSON model file"),
    (["-m", "{tmp}/bad.model", "{corpus}"], "model {tmp}/bad.model: not a bytepiece, "
                                              "SentencePiece or tokenizer.json model"),
    (["-m", "{model}", "{corpus}", "--json", "--markdown"],
     "give at most one of --json and --markdown"),
])
def test_eval_errors(trained, tmp_path, args, message):
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "bad.model").write_bytes(b"\x0a\xff\xff")
    values = {"model": trained[0], "tmp": tmp_path, "corpus": TINY[0]}
    status, out, err = run(["eval", *(a.format(**values) for a in args)])
    assert status in (1, 2) and out == ""
    assert err.startswith("bytepiece: error: " + message.format(**values)), err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("library,fixture", [("sentencepiece", "sp_default"),
                                             ("tokenizers", "hf_file")])
def test_eval_without_the_optional_library(request, monkeypatch, library, fixture):
    model = request.getfixturevalue(fixture)
    monkeypatch.setitem(sys.modules, library, None)  # import fails
    status, out, err = run(["eval", "-m", model, TINY[0]])
    assert status == 1 and out == ""
    assert err.startswith(f"bytepiece: error: model {model} is a ") and \
        f"needs the {library} library (pip install 'bytepiece-numba[compare]')" in err
    assert err.count("\n") == 1


@pytest.fixture
def hf_file(tmp_path):
    from bytepiece.convert.huggingface import to_huggingface_json

    path = tmp_path / "tokenizer.json"
    path.write_bytes(to_huggingface_json(Model.from_dict(make_model(HAND_PIECES))))
    return str(path)


def test_eval_help_has_examples():
    status, out, _ = run(["eval", "--help"])
    assert status == 0 and "bytepiece eval -m en.json corpora/en.txt" in out
