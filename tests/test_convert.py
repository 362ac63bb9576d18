"""Converting models: the protobuf codec, SentencePiece and Hugging Face files, the CLI.

The converted models are loaded by the real libraries (sentencepiece, tokenizers,
transformers: the ``compare`` extra, installed by the ``test`` extra too) and must
segment like bytepiece. SentencePiece sums float32 scores, so where two
segmentations tie (or nearly) in bytepiece's float64 it may pick the other one:
those lines are allowed, and only those.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece import ModelError, Tokenizer
from bytepiece.convert import protobuf
from bytepiece.convert.huggingface import (inexact_scores, json_float, piece_to_chars,
                                           serde_float, to_huggingface_json)
from bytepiece.convert.sentencepiece import (BYTE, CONTROL, NORMAL, UNKNOWN, UNUSED,
                                             from_sentencepiece, read_model_proto,
                                             to_sentencepiece, write_model_proto)
from bytepiece.model import Model
from conftest import CORPORA, FIXTURES, make_model

import sentencepiece as spm  # noqa: E402  (the test extra installs them: never skipped)
import tokenizers  # noqa: E402

MODEL = FIXTURES / "train" / "mixed-o4-mc2-unlimited.json"          # 1069 pieces, UTF-8
NOT_UTF8_MODEL = FIXTURES / "train" / "zh-o4-mc8-v2000-noeu.json"   # 112 pieces not UTF-8


def corpus_lines() -> list[str]:
    """Every line of the tiny corpora and the first 2000 lines of the mixed corpus."""
    lines = []
    for path in sorted((CORPORA / "tiny").iterdir()):
        lines += path.read_bytes().decode("utf-8", errors="replace").splitlines(keepends=True)
    with open(CORPORA / "mixed.txt", encoding="utf-8") as f:
        lines += [f.readline() for _ in range(2000)]
    return lines


LINES = corpus_lines()


def path_score(model: Model, ids: list[int]) -> float:
    logp = model.log_probs()
    return math.fsum(logp[i - 3] for i in ids)


def assert_same_or_tied(model: Model, ours: list[list[int]], theirs: list[list[int]],
                        max_share: float) -> int:
    """Every line gets the same ids, or ids whose segmentation scores the same up to
    float32 rounding; at most ``max_share`` of the lines differ. Returns how many do."""
    differ = 0
    for a, b in zip(ours, theirs, strict=True):
        if a == b:
            continue
        differ += 1
        assert b"".join(model.pieces[i - 3] for i in a) == \
            b"".join(model.pieces[i - 3] for i in b)
        sa, sb = path_score(model, a), path_score(model, b)
        assert sa == pytest.approx(sb, rel=1e-6, abs=1e-5), (a, b)
    assert differ <= max_share * len(ours)
    return differ


# -- protobuf ------------------------------------------------------------------

@given(st.integers(-2**63, 2**64 - 1))
def test_varint_round_trip(value):
    data = protobuf.field_varint(5, value)
    [(number, wire_type, read)] = list(protobuf.iter_fields(data))
    assert (number, wire_type) == (5, protobuf.VARINT)
    assert read == value % 2**64
    if -2**31 <= value < 2**31:
        assert protobuf.signed32(read) == value


@settings(max_examples=50)
@given(st.lists(st.tuples(st.integers(1, 2**29 - 1), st.binary(max_size=300)), max_size=8),
       st.floats(allow_nan=False, width=32))
def test_fields_round_trip(fields, number):
    data = b"".join(protobuf.field_bytes(n, v) for n, v in fields) + protobuf.field_float(7, number)
    read = list(protobuf.iter_fields(data))
    assert [(n, v) for n, _, v in read[:-1]] == fields
    assert protobuf.as_float(read[-1][2]) == number


def test_truncated_messages_are_errors():
    data = protobuf.field_bytes(1, b"hello")
    for cut in range(1, len(data)):
        with pytest.raises(protobuf.ProtobufError):
            list(protobuf.iter_fields(data[:cut]))
    with pytest.raises(protobuf.ProtobufError, match="wire type"):
        list(protobuf.iter_fields(bytes([(1 << 3) | 3])))


def test_model_proto_matches_sentencepiece_reading_it(tmp_path):
    """A hand-made ModelProto, read back by SentencePiece itself, field by field."""
    pieces = [("<unk>", 0.0, UNKNOWN), ("<s>", 0.0, CONTROL), ("</s>", 0.0, CONTROL)]
    pieces += [(f"<0x{b:02X}>", 0.0, BYTE) for b in range(256)]
    pieces += [("ab", -1.5, NORMAL), ("a", -2.25, NORMAL), ("b", -3.0, NORMAL),
               ("zz", 0.0, UNUSED)]
    data = write_model_proto(pieces, {"model_type": 1, "vocab_size": len(pieces),
                                      "byte_fallback": True, "unk_id": 0, "pad_id": -1},
                             {"name": "identity", "add_dummy_prefix": False,
                              "remove_extra_whitespaces": False})
    (tmp_path / "m.model").write_bytes(data)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "m.model"))
    assert sp.get_piece_size() == len(pieces)
    assert [sp.id_to_piece(i) for i in range(len(pieces))] == [p for p, _, _ in pieces]
    assert [sp.get_score(i) for i in range(len(pieces))] == [s for _, s, _ in pieces]
    assert sp.is_byte(3) and sp.is_unused(len(pieces) - 1) and sp.is_control(1)
    assert (sp.unk_id(), sp.bos_id(), sp.pad_id()) == (0, 1, -1)
    # escape_whitespaces was left out, so it is true (proto2 default): ' ' becomes '▁',
    # which no piece covers: its 3 bytes come from byte fallback, like 'z'
    assert sp.encode("aab zz") == [260, 259, 3 + 0xE2, 3 + 0x96, 3 + 0x81, 3 + 0x7A, 3 + 0x7A]
    parsed = read_model_proto(data)
    assert parsed.pieces == pieces
    assert parsed.trainer_spec["pad_id"] == -1 and parsed.trainer_spec["byte_fallback"] is True


# -- bytepiece -> SentencePiece ------------------------------------------------

@pytest.fixture(scope="module")
def sp_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sp")
    out = {}
    for name, path in (("utf8", MODEL), ("not_utf8", NOT_UTF8_MODEL)):
        model = Model.load(path)
        (folder / f"{name}.model").write_bytes(to_sentencepiece(model))
        out[name] = (model, Tokenizer(path),
                     spm.SentencePieceProcessor(model_file=str(folder / f"{name}.model")))
    return out


def test_sentencepiece_ids_are_bytepiece_ids(sp_files):
    model, tokenizer, sp = sp_files["utf8"]
    n = tokenizer.vocab_size
    assert sp.get_piece_size() == n + 127 + 1          # + 127 ASCII byte pieces + <unk>
    assert (sp.pad_id(), sp.bos_id(), sp.eos_id(), sp.unk_id()) == (0, 1, 2, n + 127)
    for i in range(3, n):
        piece = tokenizer.id_to_piece(i)
        expected = f"<0x{piece[0]:02X}>" if len(piece) == 1 and (piece[0] >= 0x80 or
                                                                 piece[0] == 0) \
            else piece.decode()
        assert sp.id_to_piece(i) == expected
    ids = tokenizer.encode("Hello, 世界\n", add_bos=True, add_eos=True)
    assert sp.encode("Hello, 世界\n", add_bos=True, add_eos=True) == ids
    assert sp.decode(ids) == "Hello, 世界\n"


def test_sentencepiece_segments_like_bytepiece(sp_files):
    model, tokenizer, sp = sp_files["utf8"]
    ours = tokenizer.encode_batch(LINES)
    theirs = sp.encode([tokenizer.decode(ids) for ids in ours])   # NFC text
    assert_same_or_tied(model, ours, theirs, max_share=0.02)
    text = tokenizer.decode(tokenizer.encode("".join(LINES[:300])))
    assert_same_or_tied(model, [tokenizer.encode(text)], [sp.encode(text)], max_share=1)


def test_sentencepiece_cannot_have_pieces_that_are_not_utf8(sp_files):
    """They become UNUSED placeholders: ids stay aligned, SentencePiece never uses them."""
    model, tokenizer, sp = sp_files["not_utf8"]
    invalid = [i + 3 for i, p in enumerate(model.pieces) if len(p) > 1 and not _utf8(p)]
    assert len(invalid) == 112
    assert all(sp.is_unused(i) for i in invalid)
    ours = tokenizer.encode_batch(LINES)
    theirs = sp.encode([tokenizer.decode(ids) for ids in ours])
    assert not set(invalid) & {i for ids in theirs for i in ids}
    uses_invalid = [set(a) & set(invalid) != set() for a in ours]
    assert any(uses_invalid)
    clean = [(a, b) for a, b, bad in zip(ours, theirs, uses_invalid) if not bad]
    assert_same_or_tied(model, [a for a, _ in clean], [b for _, b in clean], max_share=0.02)


def test_tricky_pieces_load_in_sentencepiece(tmp_path):
    """Pieces named like SentencePiece's specials and byte pieces, control characters,
    U+2581: SentencePiece takes them all as text; a piece with a NUL it refuses, and
    its placeholder is never used."""
    counts = {b"<pad>": 50, b"<0x41>": 40, b"<unk>": 30, "\u2581x".encode(): 20,
              b"\t\r": 10, b"a\x00b": 5, b"\xe4\xb8": 3}
    model = Model.from_dict(make_model(counts))
    (tmp_path / "m.model").write_bytes(to_sentencepiece(model))
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "m.model"))
    tokenizer = Tokenizer(make_model(counts))
    for text in ["<pad><0x41><unk>", "\u2581x\t\r", "é\x00", "<bos>", "a\x00"]:
        assert sp.encode(text) == tokenizer.encode(text), text
        # SentencePiece's decoder writes its meta symbol '▁' as a space, whatever the model
        assert sp.decode(sp.encode(text)) == text.replace("\u2581", " ")
    nul_piece = tokenizer.piece_to_id(b"a\x00b")
    assert sp.is_unused(nul_piece)
    assert tokenizer.encode("a\x00b") == [nul_piece]
    assert sp.encode("a\x00b") == tokenizer.pieces_to_ids([b"a", b"\x00", b"b"])


# -- SentencePiece -> bytepiece ------------------------------------------------

@pytest.fixture(scope="module")
def trained_sp(tmp_path_factory):
    """A SentencePiece unigram model with byte fallback, trained here on 180 KB of
    Chinese, English and Python (in under a second)."""
    folder = tmp_path_factory.mktemp("sp-trained")
    text = "".join((CORPORA / f"{name}.txt").read_bytes()[:60_000].decode("utf-8", "ignore")
                   for name in ("zh", "en", "code"))
    (folder / "corpus.txt").write_text(text, encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(folder / "corpus.txt"), model_prefix=str(folder / "sp"),
        model_type="unigram", vocab_size=1500, character_coverage=0.98, byte_fallback=True,
        normalization_rule_name="identity", add_dummy_prefix=False,
        remove_extra_whitespaces=False, num_threads=1, minloglevel=2)
    return folder / "sp.model"


def test_from_sentencepiece_segments_like_sentencepiece(trained_sp):
    conversion = from_sentencepiece(trained_sp.read_bytes(), str(trained_sp))
    sp = spm.SentencePieceProcessor(model_file=str(trained_sp))
    model, id_map = conversion.model, conversion.id_map
    assert len(id_map) == sp.get_piece_size()
    assert id_map[sp.unk_id()] is None and id_map[sp.bos_id()] == 1
    assert id_map[sp.eos_id()] == 2
    for sp_id, ours in enumerate(id_map):
        if ours is not None and ours >= 3 and not sp.is_byte(sp_id):
            assert model.pieces[ours - 3] == sp.id_to_piece(sp_id).replace("\u2581", " ").encode()
    # log-probabilities are the scores (the leftover mass is on the fallback bytes)
    logp = model.log_probs()
    for sp_id in range(sp.get_piece_size()):
        if not (sp.is_byte(sp_id) or sp.is_control(sp_id) or sp.is_unknown(sp_id)):
            assert logp[id_map[sp_id] - 3] == pytest.approx(sp.get_score(sp_id), abs=1e-9)
    tokenizer = Tokenizer(model.to_dict())
    lines = [line.rstrip("\n") for line in LINES]      # SentencePiece sees no newlines
    ours = tokenizer.encode_batch(lines)
    theirs = [[id_map[i] for i in ids] for ids in sp.encode([tokenizer.decode(a) for a in ours])]
    assert_same_or_tied(model, ours, theirs, max_share=0.01)


def test_bytepiece_to_sentencepiece_and_back_is_the_same_model():
    model = Model.load(MODEL)
    back = from_sentencepiece(to_sentencepiece(model))
    assert back.model.pieces == model.pieces
    assert back.id_map[:len(model) + 3] == list(range(len(model) + 3))
    assert back.id_map[-1] is None                                    # <unk>
    np.testing.assert_allclose(back.model.log_probs(), model.log_probs(), atol=1e-5)
    assert back.notes == []


def test_from_sentencepiece_notes_and_errors():
    pieces = [("<unk>", 0.0, UNKNOWN), ("\u2581the", -1.0, NORMAL), ("x", -2.0, NORMAL)]
    data = write_model_proto(pieces, {"model_type": 1}, {"name": "nmt_nfkc",
                                                         "precompiled_charsmap": b"\x01"})
    conversion = from_sentencepiece(data, "m.model")
    assert b" the" in conversion.model.pieces                     # ▁ is a space again
    notes = " ".join(conversion.notes)
    for word in ("nmt_nfkc", "add_dummy_prefix", "remove_extra_whitespaces", "byte fallback"):
        assert word in notes
    with pytest.raises(ModelError, match="BPE model; only unigram"):
        from_sentencepiece(write_model_proto(pieces, {"model_type": 2}, {}), "bpe.model")
    with pytest.raises(ModelError, match="m.json: not a SentencePiece model"):
        from_sentencepiece(MODEL.read_bytes(), "m.json")


# -- Hugging Face --------------------------------------------------------------

@pytest.fixture(scope="module")
def hf_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("hf") / "tokenizer.json"
    path.write_bytes(to_huggingface_json(Model.load(MODEL)))
    return path


def test_huggingface_gives_bytepiece_ids(hf_file):
    assert inexact_scores(Model.load(MODEL)) == 0
    hf = tokenizers.Tokenizer.from_file(str(hf_file))
    tokenizer = Tokenizer(MODEL)
    extra = ["", "<bos>x<pad>", "a\n\n\nb\r\n\n", "e\u0301 ﬁ", "😀" * 3, "\x00\x7f"]
    for line, ours, theirs in zip(LINES + extra, tokenizer.encode_batch(LINES + extra),
                                  hf.encode_batch(LINES + extra, add_special_tokens=False)):
        assert theirs.ids == ours, line
    text = "".join(LINES)
    assert hf.encode(text).ids == tokenizer.encode(text)
    assert hf.get_vocab_size() == tokenizer.vocab_size
    assert hf.decode(tokenizer.encode(text)) == tokenizer.decode(tokenizer.encode(text))


def test_huggingface_pieces_that_are_not_utf8(tmp_path):
    tokenizer = Tokenizer(NOT_UTF8_MODEL)
    path = tmp_path / "tokenizer.json"
    path.write_bytes(to_huggingface_json(Model.load(NOT_UTF8_MODEL)))
    hf = tokenizers.Tokenizer.from_file(str(path))
    ours = tokenizer.encode_batch(LINES)
    assert [e.ids for e in hf.encode_batch(LINES, add_special_tokens=False)] == ours


def test_transformers_fast_tokenizer(hf_file):
    import transformers

    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(hf_file))
    tokenizer = Tokenizer(MODEL)
    for line in LINES[:200]:
        ids = fast.encode(line, add_special_tokens=False)
        assert ids == tokenizer.encode(line)
        assert fast.decode(ids) == tokenizer.decode(ids)


def test_byte_level_characters_are_those_of_tokenizers():
    byte_level = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    assert sorted(piece_to_chars(bytes(range(256)))) == sorted(byte_level.alphabet())
    text = "é a\n\t\x00~\x7f😀"
    [(chars, _)] = byte_level.pre_tokenize_str(text)
    assert chars == piece_to_chars(text.encode())


@given(st.floats(min_value=-60, max_value=0, allow_nan=False))
def test_json_floats_are_read_back_exactly(x):
    text = json_float(x)
    assert float(text) == x                          # a correctly rounding reader
    if text != repr(x):
        assert serde_float(text) == x                # serde_json's reader


def test_json_float_of_a_float_serde_cannot_reach():
    x = -7.9358863666952955
    assert json_float(x) == repr(x)
    assert serde_float(repr(x)) != x
    assert serde_float(repr(x)) in (np.nextafter(x, -np.inf), np.nextafter(x, np.inf))  # 1 ulp


# -- the command -----------------------------------------------------------------

def run_cli(args):
    from click.testing import CliRunner

    from bytepiece_cli.main import main

    def entry():
        try:
            main(args)
        except SystemExit as e:
            return e.code
        return 0

    import click

    @click.command()
    def wrapper():
        sys.exit(entry())

    result = CliRunner().invoke(wrapper, [], catch_exceptions=False)
    return result.exit_code, result.stderr


def test_convert_command(tmp_path, trained_sp):
    status, err = run_cli(["convert", str(MODEL), "--to", "sentencepiece",
                           str(tmp_path / "m.model")])
    assert status == 0 and "wrote" in err
    assert (tmp_path / "m.model").read_bytes() == to_sentencepiece(Model.load(MODEL))
    status, err = run_cli(["convert", str(MODEL), "--to", "huggingface",
                           str(tmp_path / "tokenizer.json")])
    assert status == 0
    assert json.loads((tmp_path / "tokenizer.json").read_text())["model"]["type"] == "Unigram"
    status, err = run_cli(["convert", "--from", "sentencepiece", str(trained_sp),
                           str(tmp_path / "back.json"), "--id-map", str(tmp_path / "ids.json")])
    assert status == 0, err
    id_map = json.loads((tmp_path / "ids.json").read_text())
    assert id_map == from_sentencepiece(trained_sp.read_bytes()).id_map
    assert Tokenizer(tmp_path / "back.json").vocab_size == max(i for i in id_map if i) + 1
    status, err = run_cli(["convert", str(NOT_UTF8_MODEL), "--to", "sentencepiece",
                           str(tmp_path / "n.model")])
    assert status == 0 and "112 pieces are not UTF-8 or hold a NUL" in err


@pytest.mark.parametrize("args, message", [
    (["convert", "a", "b"], "give exactly one of --to FORMAT and --from FORMAT"),
    (["convert", "a", "b", "--to", "huggingface", "--id-map", "x"], "--id-map goes with --from"),
    (["convert", "missing.json", "b", "--to", "sentencepiece"], "missing.json: cannot read"),
])
def test_convert_errors(args, message, tmp_path):
    status, err = run_cli(args)
    assert status != 0
    assert err.startswith("bytepiece: error: ") and message in err and err.count("\n") == 1


def _utf8(piece: bytes) -> bool:
    try:
        piece.decode()
    except UnicodeDecodeError:
        return False
    return True
