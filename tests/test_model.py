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
    ("negative id", _mutate(lambda m: m[_b64(b"ab")].__setitem__(0, -1)), "id -1 is out of range"),
    ("boolean id", _mutate(lambda m: m[_b64(b"ab")].__setitem__(0, True)), "is not an integer"),
    ("huge count", _mutate(lambda m: m[_b64(b"ab")].__setitem__(2, 2**63)),
     "not a positive count"),
    ("null text", _mutate(lambda m: m[_b64(b"ab")].__setitem__(1, None)), "is not a string"),
    ("not a list", _mutate(lambda m: m.__setitem__(_b64(b"ab"), {"id": 259})),
     "expected [id, text, count]"),
    ("huge number", json.dumps(GOOD)[:-1] + ', "YWJj": [260, "abc", 1' + "0" * 5000 + "]}",
     "not a JSON model file"),
    ("nested", "[" * 100000 + "]" * 100000, "not a JSON model file"),
    ("latin-1", (json.dumps(GOOD)[:-1] + ', "6Q==": [260, "\xe9", 1]}').encode("latin-1"),
     "not a JSON model file"),
    ("duplicate id", _mutate(lambda m: m[_b64(b"ab")].__setitem__(0, 258)), "duplicate id"),
    ("missing byte", json.dumps({_b64(p): [i + 3, "", 1] for i, p in enumerate(
        bytes([b]) for b in range(256) if b != 7)}), "single byte 0x07 is not a piece"),
    ("missing id", _mutate(lambda m: m.pop(_b64(b"\x07")) and None), "out of range"),
    ("empty piece", _mutate(lambda m: m.__setitem__("", [260, "", 1])), "empty piece"),
    ("duplicate key", json.dumps(GOOD)[:-1] + ', "YWI=": [259, "ab", 5]}', "duplicate piece"),
    # "YWJ=" is not canonical base64 but decodes to b"ab" too
    ("duplicate bytes", json.dumps(GOOD)[:-1] + ', "YWJ=": [260, "ab", 5]}', "duplicate piece"),
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


def test_oversized_models_are_refused_before_reading(tmp_path, monkeypatch):
    import contextlib
    import os
    import threading

    import bytepiece.model_file

    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(1 << 30)  # a sparse 1 GB file: no disk space used
    with pytest.raises(ModelError, match=f"model {huge}: file is 1073741824 bytes, larger"):
        Model.load(huge)
    # a device or pipe that never ends is cut off after MAX_MODEL_BYTES
    monkeypatch.setattr(bytepiece.model_file, "MAX_MODEL_BYTES", 1 << 20)
    with pytest.raises(ModelError, match="model /dev/zero: longer than any model"):
        Model.load("/dev/zero")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def write():  # more than any model, until the reader gives up
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as f:
            f.write(b" " * (3 << 20))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        with pytest.raises(ModelError, match="longer than any model"):
            Model.load(fifo)
    finally:
        writer.join(timeout=10)


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


@pytest.mark.parametrize("damage", ["base", "value", "pair", "dtype", "offsets", "fail",
                                    "lists", "length", "guard", "length type", "id",
                                    "logp"])
def test_damaged_cache_entries_never_reach_the_kernels(tmp_path, monkeypatch, damage):
    """An entry whose arrays have the right shapes but indices out of range (bit rot, a
    foreign file) is rebuilt: the kernels check no index, so it must not reach them."""
    monkeypatch.setenv("BYTEPIECE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "m.json"
    Model.from_dict(make_model({b"hello": 9, b" world": 4})).save(path)
    want = Tokenizer(path).encode("hello world " * 2000)  # large: the kernel, not Python
    (entry,) = (tmp_path / "cache").iterdir()
    original = dict(np.load(entry))
    arrays = dict(np.load(entry))
    if damage == "base":
        arrays["nodes"][0] = 2**31
    elif damage == "value":
        arrays["value"][arrays["value"] >= 0] += 10**6
    elif damage == "pair":
        arrays["pair"][ord("h") * 256 + ord("e")] = 2**30
    elif damage == "dtype":
        arrays["nodes"] = arrays["nodes"].astype(np.int64)
    elif damage == "fail":
        arrays["fail"][-1] = 2**31
    elif damage == "lists":
        arrays["cand_se"][arrays["cand_se"] > 0] += np.uint64(10**6 << 16)
    elif damage == "length":  # a back-pointer reaching past its chunk's start
        arrays["cand_len"][-256] = 2
    elif damage == "guard":  # the guard band below a chunk is as long as the first filler
        arrays["cand_len"][0] = 1
    elif damage == "length type":  # the kernels are compiled for the narrowest type
        arrays["cand_len"] = arrays["cand_len"].astype(np.uint32)
    elif damage == "id":
        arrays["cand_id"][-1] = arrays["id_logp"].shape[0]
    elif damage == "logp":  # NaN would let a piece across a chunk start win
        arrays["id_logp"][-1] = np.nan
    else:
        arrays["piece_offsets"][-1] += 1000
    with open(entry, "wb") as f:
        np.savez(f, **arrays)
    assert Tokenizer(path).encode("hello world " * 2000) == want
    rewritten = dict(np.load(entry))  # rebuilt whole
    assert rewritten.keys() == original.keys()
    for name, array in original.items():
        assert rewritten[name].dtype == array.dtype and np.array_equal(rewritten[name], array)


def test_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("BYTEPIECE_CACHE_DIR", "")
    path = tmp_path / "m.json"
    Model.from_dict(make_model({})).save(path)
    Tokenizer(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
