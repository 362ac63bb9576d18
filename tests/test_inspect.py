"""``bytepiece inspect``: the vocabulary report on a hand-made model, and the command."""

from __future__ import annotations

import json

import pytest

from bytepiece import Trainer
from bytepiece.model import Model
from bytepiece.vocab_report import char_class, piece_script, show_piece, vocab_report
from conftest import CORPORA, invoke_cli, make_model

HAND_PIECES = {b" the": 90, "中文".encode(): 70, b"2024": 60, b", ": 50, b"\n\n": 40,
               "café".encode(): 30, "жы".encode(): 20, b"\xe4\xb8": 10, b"a1": 5}


@pytest.fixture(scope="module")
def hand_model():
    return Model.from_dict(make_model(HAND_PIECES))


def test_report_by_hand(hand_model):
    report = vocab_report(hand_model, top=3)
    assert report["vocab_size"] == 256 + 9 + 3 and report["pieces"] == 265
    assert report["length_histogram"] == {1: 256, 2: 4, 4: 3, 5: 1, 6: 1}
    assert [e["piece"] for e in report["longest"]] == ["中文", "café", " the"]
    assert [e["bytes"] for e in report["longest"]] == [6, 5, 4]
    # 4 bytes: " the", "2024", "жы", in id order, which is (length, bytes) order
    assert [(e["piece"], e["count"]) for e in report["most_frequent"]] == \
        [(" the", 90), ("中文", 70), ("2024", 60)]
    assert report["most_frequent"][0]["hex"] == " the".encode().hex()
    scripts = {name: entry["pieces"] for name, entry in report["scripts"].items()}
    # single bytes 0x00-0x7f: 52 Latin letters, 10 digits, 32 punctuation and symbols,
    # 10 whitespace (\t \n \v \f \r, the separators \x1c-\x1f, space), 24 other
    # controls (0x00-0x08, 0x0e-0x1b, 0x7f); 0x80-0xff are partial UTF-8
    assert scripts == {"CJK": 1, "Latin": 52 + 2, "digits": 10 + 1,
                       "punctuation and space": 32 + 10 + 2, "other or mixed": 24 + 2,
                       "partial UTF-8": 128 + 1}
    total = sum(hand_model.counts.tolist())
    assert report["scripts"]["CJK"]["count_share"] == 70 / total
    assert report["training_settings"] is None
    assert report["hints"] == {"longest_piece_bytes": 6, "smallest_count_of_a_longer_piece": 5,
                               "longer_pieces_not_utf8": 1}


def test_piece_classes():
    assert [piece_script(p.encode()) for p in
            (" the", "café", "cafe\u0301", "中文。", "カタカナ", "한국어", "2024", "٣", ", ",
             "\n\n", "a1", "жы", "\x00", "中a")] == \
        ["Latin", "Latin", "Latin", "CJK", "CJK", "CJK", "digits", "digits",
         "punctuation and space", "punctuation and space", "other or mixed",
         "other or mixed", "other or mixed", "other or mixed"]
    assert piece_script(b"\xe4\xb8") == piece_script(b"\xad") == "partial UTF-8"
    assert char_class("\u0301") is None and char_class("$") == "punctuation and space"


def test_show_piece():
    assert show_piece(b"a\\b\n\t\r") == "a\\\\b\\n\\t\\r"
    assert show_piece(b"\xe4\xb8") == "\\xe4\\xb8" and show_piece(b"\x00") == "\\x00"
    assert show_piece(" 中".encode()) == " 中" and show_piece("\u200b".encode()) == "\\u200b"


def run(args):
    result = invoke_cli(args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    texts = []
    for name in ("en.txt", "zh.txt", "code.py"):
        texts += (CORPORA / "tiny" / name).read_text(encoding="utf-8").splitlines(keepends=True)
    trainer = Trainer(order=4, max_vocab_size=400)
    trainer.train(texts)
    path = tmp_path_factory.mktemp("trained") / "tiny.json"
    trainer.save(path)
    return str(path)


def test_inspect_json(trained):
    status, out, err = run(["inspect", trained, "--json", "--top", "5"])
    assert status == 0, err
    report = json.loads(out)
    model = Model.load(trained)
    assert report["vocab_size"] == len(model) + 3 and report["pieces"] == len(model)
    assert sum(report["length_histogram"].values()) == len(model)
    assert sum(e["pieces"] for e in report["scripts"].values()) == len(model)
    assert abs(sum(e["count_share"] for e in report["scripts"].values()) - 1) < 1e-12
    longest, frequent = report["longest"], report["most_frequent"]
    assert len(longest) == len(frequent) == 5
    assert longest[0]["bytes"] == max(map(len, model.pieces)) == \
        max(map(int, report["length_histogram"]))
    assert [e["count"] for e in frequent] == sorted(model.counts.tolist(), reverse=True)[:5]
    for e in longest + frequent:
        assert model.pieces[e["id"] - 3] == bytes.fromhex(e["hex"])
    assert report["scripts"]["CJK"]["pieces"] > 0 and report["scripts"]["Latin"]["pieces"] > 0


def test_inspect_table(trained):
    status, out, err = run(["inspect", trained, "--top", "3"])
    assert status == 0, err
    model = Model.load(trained)
    lines = out.splitlines()
    assert lines[1] == f"vocabulary  {len(model) + 3:,} ids: 3 special tokens and " \
        f"{len(model):,} pieces"
    assert lines[2].startswith("training    settings not recorded")
    assert "longest pieces" in lines and "most frequent pieces" in lines
    start = lines.index("most frequent pieces") + 2
    top = max(range(len(model)), key=lambda i: (model.counts[i], -i))
    assert lines[start].split()[0] == str(top + 3)
    assert f"\"{show_piece(model.pieces[top])}\"" in lines[start]
    assert len(lines) == start + 3
    for name in ("CJK", "Latin", "digits", "punctuation and space", "other or mixed",
                 "partial UTF-8"):
        assert any(line.startswith(name + " ") for line in lines), name


def test_inspect_errors(tmp_path, trained):
    status, out, err = run(["inspect", tmp_path / "missing.json"])
    assert status == 1 and out == "" and err == (
        f"bytepiece: error: model {tmp_path}/missing.json: cannot read: No such file or "
        f"directory\n")
    (tmp_path / "sp.model").write_bytes(b"\x0a\x03abc")
    status, out, err = run(["inspect", tmp_path / "sp.model"])
    assert status == 1 and err.startswith(
        f"bytepiece: error: model {tmp_path}/sp.model: not a SentencePiece model") and \
        err.count("\n") == 1
    (tmp_path / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE"}}')
    status, out, err = run(["inspect", tmp_path / "tokenizer.json"])
    assert status == 1 and err == (f"bytepiece: error: model {tmp_path}/tokenizer.json: not a "
                                   f"valid tokenizer.json (KeyError: 'vocab')\n")
    (tmp_path / "bad.json").write_text('{"AA==": [3, "", 1]}')
    status, out, err = run(["inspect", tmp_path / "bad.json"])
    assert status == 1 and "the single byte 0x01 is not a piece" in err
    status, out, _ = run(["inspect", "--help"])
    assert status == 0 and "bytepiece inspect model.json --top 50" in out


# -- other libraries' files ---------------------------------------------------------

def test_inspect_sentencepiece_model(tmp_path, trained):
    """A converted model: SentencePiece's own view of each id, bytepiece's counts' order."""
    sentencepiece = pytest.importorskip("sentencepiece")
    sp_path = tmp_path / "tiny.model"
    assert run(["convert", trained, "--to", "sentencepiece", str(sp_path)])[0] == 0
    sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_path))
    status, out, err = run(["inspect", str(sp_path), "--json", "--top", "4"])
    assert status == 0, err
    report = json.loads(out)
    n = sp.get_piece_size()
    special = [i for i in range(n) if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i)]
    assert (report["kind"], report["model_type"]) == ("sentencepiece", "unigram")
    assert report["vocab_size"] == n and report["special_tokens"] == len(special) >= 4
    assert report["training_settings"]["model_type"] == "unigram"
    assert report["training_settings"]["byte_fallback"] is True
    model = Model.load(trained)
    for e in report["longest"] + report["most_frequent"]:
        piece = bytes.fromhex(e["hex"])
        assert e["id"] not in special
        if sp.is_byte(e["id"]):
            assert piece == bytes([int(sp.id_to_piece(e["id"])[3:5], 16)])
        else:
            assert piece == sp.id_to_piece(e["id"]).replace("\u2581", " ").encode()
    # probabilities follow the scores, so the most probable pieces are the most counted
    # (byte-fallback pieces have no probability and are not ranked)
    scored = [i for i in range(len(model)) if not sp.is_byte(i + 3)]
    top = sorted(scored, key=lambda i: (-model.counts[i], i))[:4]
    assert [e["id"] for e in report["most_frequent"]] == [i + 3 for i in top]
    shares = [e["count_share"] for e in report["scripts"].values()]
    assert abs(sum(shares) - 1) < 1e-9
    status, out, err = run(["inspect", str(sp_path), "--top", "2"])
    assert status == 0 and out.startswith(f"model       {sp_path} (SentencePiece, unigram)\n")
    assert "training    settings recorded in the file: " in out and "most probable pieces" in out


def test_inspect_huggingface_unigram(tmp_path, trained):
    """bytepiece's own export: the same ids and pieces as the bytepiece model."""
    hf_path = tmp_path / "tokenizer.json"
    assert run(["convert", trained, "--to", "huggingface", str(hf_path)])[0] == 0
    status, out, err = run(["inspect", str(hf_path), "--json", "--top", "5"])
    assert status == 0, err
    report = json.loads(out)
    model = Model.load(trained)
    assert (report["kind"], report["model_type"]) == ("huggingface", "unigram")
    assert report["vocab_size"] == len(model) + 3 and report["training_settings"] is None
    for e in report["longest"] + report["most_frequent"]:
        if e["id"] >= 3:
            assert bytes.fromhex(e["hex"]) == model.pieces[e["id"] - 3]
    bytepiece_report = vocab_report(model, top=5)
    assert [e["hex"] for e in report["longest"]] == [e["hex"] for e in bytepiece_report["longest"]]


def test_inspect_huggingface_byte_level_bpe(tmp_path):
    """A BPE tokenizer.json: ByteLevel characters back to bytes, no probabilities."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([str(CORPORA / "tiny" / "zh.txt"), str(CORPORA / "tiny" / "en.txt")], trainer)
    path = tmp_path / "bpe.json"
    tok.save(str(path))
    status, out, err = run(["inspect", str(path), "--json", "--top", "50"])
    assert status == 0, err
    report = json.loads(out)
    assert report["model_type"] == "bpe" and report["most_frequent"] == []
    assert report["vocab_size"] == tok.get_vocab_size() and report["special_tokens"] == 1
    assert all(entry["count_share"] is None for entry in report["scripts"].values())
    for e in report["longest"]:
        token = tok.id_to_token(e["id"])
        assert tok.decode([e["id"]]).encode() == bytes.fromhex(e["hex"]) or \
            b"\xef\xbf\xbd" in tok.decode([e["id"]]).encode(), token
    assert report["scripts"]["CJK"]["pieces"] > 0
    status, out, err = run(["inspect", str(path), "--top", "3"])
    assert status == 0
    assert "most probable pieces: none (a bpe model holds no piece probabilities)" in out
