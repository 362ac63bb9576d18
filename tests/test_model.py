"""Reading, validating and writing BytePiece model files."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from bytepiece import ModelError, Tokenizer
from bytepiece.model import Model
from conftest import make_model


def _write(tmp_path, content, name="m.json"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _b64(piece: bytes) -> str:
    return base64.b64encode(piece).decode()


def test_ids_follow_the_reference_order():
    model = make_model({b"ab": 5, b"\xe4\xb8\xad": 3})
    ids = {base64.b64decode(k): v[0] for k, v in model.items()}
    assert ids[b"\x00"] == 3 and ids[b"\xff"] == 258  # single bytes first, by value
    assert ids[b"ab"] == 259 and ids[b"\xe4\xb8\xad"] == 260  # then by (length, bytes)
    assert model[_b64(b"\xe4\xb8\xad")][1] == "中"


def test_save_and_load_round_trip(tmp_path):
    model = Model.from_dict(make_model({b"hello": 9, b" world": 4}))
    path = tmp_path / "m.json"
    model.save(path)
    again = Model.load(path)
    assert again.pieces == model.pieces
    assert again.counts.tolist() == model.counts.tolist()
    text = path.read_text(encoding="utf-8")
    assert text.startswith('{\n    "AA==": [\n        3,')  # json.dump(indent=4) as BytePiece
    assert json.loads(text) == model.to_dict()
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary file left


def test_log_probs_are_computed_like_the_reference():
    model = Model.from_dict(make_model({b"ab": 123456789}))
    total = sum(model.counts.tolist())
    expected = [np.log(c) - np.log(total) for c in model.counts.tolist()]
    assert model.log_probs().tolist() == expected


GOOD = make_model({b"ab": 5})


def _mutate(change):
    model = json.loads(json.dumps(GOOD))
    change(model)
    return json.dumps(model)


BAD_MODELS = [
    ("not json", "{\"AA==\": [3, ", "not a JSON model file"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00", "not a JSON model file"),
    ("array", "[1, 2]", "expected a JSON object of pieces, got an array"),
    ("bad base64", _mutate(lambda m: m.__setitem__("!!", [999, "x", 1])), "not valid base64"),
    ("wrong shape", _mutate(lambda m: m.__setitem__(_b64(b"ab"), [259, "ab"])),
     "expected [id, text, count]"),
    ("string id", _mutate(lambda m: m[_b64(b"ab")].__setitem__(0, "259")), "is not an integer"),
    ("zero count", _mutate(lambda m: m[_b64(b"ab")].__setitem__(2, 0)), "not a positive count"),
    ("negative count", _mutate(lambda m: m[_b64(b"ab")].__setitem__(2, -4)),
     "not a positive count"),
    ("float count", _mutate(lambda m: m[_b64(b"ab")].__setitem__(2, 1.5)), "is not an integer"),
    ("id out of range", _mutate(lambda m: m[_b64(b"ab")].__setitem__(0, 10**12)), "out of range"),
    ("special id", _mutate(lambda m: m[_b64(b"ab")].__setitem__(0, 2)), "out of range"),
    ("duplicate id", _mutate(lambda m: m[_b64(b"ab")].__setitem__(0, 258)), "duplicate id"),
    ("missing byte", json.dumps({_b64(p): [i + 3, "", 1] for i, p in enumerate(
        bytes([b]) for b in range(256) if b != 7)}), "single byte 0x07 is not a piece"),
    ("missing id", _mutate(lambda m: m.pop(_b64(b"\x07")) and None), "out of range"),
    ("empty piece", _mutate(lambda m: m.__setitem__("", [260, "", 1])), "empty piece"),
    ("duplicate key", json.dumps(GOOD)[:-1] + ', "YWI=": [259, "ab", 5]}', "duplicate piece"),
]


@pytest.mark.parametrize("name,content,message", BAD_MODELS, ids=[b[0] for b in BAD_MODELS])
def test_bad_models_are_refused_with_one_clear_line(tmp_path, name, content, message):
    path = _write(tmp_path, content)
    with pytest.raises(ModelError) as info:
        Tokenizer(path)
    text = str(info.value)
    assert message in text
    assert str(path) in text
    assert "\n" not in text


def test_missing_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        Tokenizer(tmp_path / "absent.json")


def test_dict_models_are_validated_too():
    with pytest.raises(ModelError, match="single byte 0x00"):
        Tokenizer({_b64(b"ab"): [3, "ab", 1]})


def test_compiled_models_are_cached_and_the_file_stays_the_truth(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("BYTEPIECE_CACHE_DIR", str(cache))
    path = tmp_path / "m.json"
    Model.from_dict(make_model({b"hello": 9})).save(path)
    first = Tokenizer(path)
    entries = list(cache.iterdir())
    assert len(entries) == 1
    second = Tokenizer(path)  # from the cache
    assert second.encode("hello hello") == first.encode("hello hello")
    assert second.vocab_size == first.vocab_size
    assert second.id_to_piece(259) == b"hello"
    # the file changes: a new entry, new behaviour
    Model.from_dict(make_model({b"hello": 9, b"hello hello": 500})).save(path)
    assert Tokenizer(path).tokenize("hello hello") == [b"hello hello"]
    assert len(list(cache.iterdir())) == 2
    # a damaged entry is ignored and rewritten
    for entry in cache.iterdir():
        entry.write_bytes(b"garbage")
    assert Tokenizer(path).encode("hello") == Tokenizer(Model.load(path)).encode("hello")
    # an invalid file is refused even if a cache entry could exist for other bytes
    path.write_text("{}")
    with pytest.raises(ModelError, match="single byte 0x00"):
        Tokenizer(path)


def test_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("BYTEPIECE_CACHE_DIR", "")
    path = tmp_path / "m.json"
    Model.from_dict(make_model({})).save(path)
    Tokenizer(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
