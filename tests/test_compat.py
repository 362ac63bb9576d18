"""Compatibility with BytePiece 0.6.3: our ids against outputs the reference produced.

The fixtures (``tests/fixtures/{models,encode,ties}``) were written by
``tests/fixtures/make_fixtures.py`` running BytePiece 0.6.3; see
``tests/fixtures/README.md``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json

import pytest

from bytepiece import Tokenizer
from bytepiece.model import Model
from conftest import CORPORA, FIXTURES, ROOT

MODELS = json.loads((FIXTURES / "models" / "models.json").read_text())
ENCODE_FILES = sorted((FIXTURES / "encode").glob("*/*.json.gz"))


def _load(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def _lines(text: str) -> list[str]:
    """Lines with their newline, as the generator split them ('\\r' is no break)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


@pytest.fixture(scope="module")
def tokenizers():
    return {m["name"]: Tokenizer(FIXTURES / m["model"]) for m in MODELS}


def test_fixtures_cover_both_models_and_every_corpus():
    assert {m["name"] for m in MODELS} == {"ref-mixed-8k", "ref-small"}
    names = {p.name for p in ENCODE_FILES}
    for corpus in ["zh", "en", "code", "mixed", "tiny-zh", "tiny-en", "tiny-code",
                   "tiny-unicode-edge", "tiny-invalid-utf8"]:
        assert f"{corpus}.json.gz" in names


@pytest.mark.parametrize("entry", MODELS, ids=lambda m: m["name"])
def test_reference_models_load_and_save_back_identically(entry, tmp_path):
    path = FIXTURES / entry["model"]
    model = Model.load(path)
    assert len(model.pieces) == entry["n_pieces"]
    model.save(tmp_path / "copy.json")
    # the reference writes indent=4, ensure_ascii=False, ids by (length, bytes): so do we
    assert (tmp_path / "copy.json").read_bytes() == path.read_bytes()


@pytest.mark.parametrize("path", ENCODE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_ids_equal_the_reference(path, tokenizers):
    case = _load(path)
    tokenizer = tokenizers[path.parent.name]
    raw = (ROOT / case["file"]).read_bytes()
    text = raw.decode("utf-8", case["errors"])
    lines = _lines(text)
    if case["lines"] is not None:
        lines = lines[:case["lines"]]
    whole = "".join(lines)
    assert hashlib.sha256(whole.encode()).hexdigest() == case["text_sha256"], \
        "the corpus changed since the fixtures were made"
    expected = case["per_line"]
    assert tokenizer.encode_batch(lines, num_threads=1) == expected
    assert tokenizer.encode_batch(lines, num_threads=2) == expected
    step = max(1, len(lines) // 200)  # one call per line is slow: a sample of them
    assert [tokenizer.encode(line) for line in lines[::step]] == expected[::step]
    assert tokenizer.encode(whole) == case["whole"]


def test_edge_cases_equal_the_reference(tokenizers):
    edge = _load(FIXTURES / "encode" / "edge-cases.json.gz")
    texts = edge["texts"]
    for name, ref in edge["models"].items():
        tokenizer = tokenizers[name]
        assert [tokenizer.encode(t) for t in texts] == ref["ids"]
        assert tokenizer.encode_batch(texts) == ref["ids"]
        assert [[base64.b64encode(p).decode() for p in tokenizer.tokenize(t)]
                for t in texts] == ref["pieces"]
        assert [tokenizer.encode(t, add_bos=True, add_eos=True) for t in texts[:8]] == \
            ref["ids_bos_eos"]


def test_decode_equals_the_reference(tokenizers):
    """BytePiece 0.6.3 drops bytes that are not UTF-8: errors="ignore" (ours replaces
    them by default, as tiktoken and bytes.decode do)."""
    cases = _load(FIXTURES / "encode" / "decode.json.gz")
    replaced = 0
    for name, ref in cases["models"].items():
        tokenizer = tokenizers[name]
        assert tokenizer.vocab_size == ref["vocab_size"]
        for case in ref["cases"]:
            assert tokenizer.decode(case["ids"], errors="ignore") == case["text"], case["ids"]
            raw = tokenizer.decode_bytes(case["ids"])
            assert tokenizer.decode(case["ids"]) == raw.decode("utf-8", "replace")
            replaced += tokenizer.decode(case["ids"]) != case["text"]
        assert tokenizer.decode_batch([c["ids"] for c in ref["cases"]], errors="ignore") == \
            [c["text"] for c in ref["cases"]]
    assert replaced  # the fixtures hold ids that are not UTF-8


def test_tokenizer_chunks_equal_the_reference_normalizer():
    """Encoding chunks (NFC, then ``.*\n+|.+``) are the reference's normalize(text, 0)."""
    import re

    from bytepiece.normalize import nfc

    chunks = _load(FIXTURES / "encode" / "normalize.json.gz")
    ours = re.compile(r".*\n+|.+")
    variant = next(v for v in chunks["variants"]
                   if v["maxlen"] == 0 and not v["isolate_digits"])
    for text, expected in zip(chunks["texts"], variant["chunks"]):
        got = [base64.b64encode(c.encode()).decode() for c in ours.findall(nfc(text))]
        assert got == expected, text[:40]


def test_training_chunks_equal_the_reference_normalizer():
    from bytepiece.chunking import train_chunks

    chunks = _load(FIXTURES / "encode" / "normalize.json.gz")
    for variant in chunks["variants"]:
        if variant["maxlen"] != 10000:
            continue
        for text, expected in zip(chunks["texts"], variant["chunks"]):
            got = [base64.b64encode(c.encode()).decode()
                   for c in train_chunks(text, variant["isolate_digits"])]
            assert got == expected, text[:40]


def test_ties_are_broken_as_the_reference_breaks_them():
    cases = json.loads((FIXTURES / "ties" / "cases.json").read_text())
    assert len(cases) >= 20
    relations = set()
    for case in cases:
        tokenizer = Tokenizer(FIXTURES / case["model"])
        texts = [c["text"] for c in case["inputs"]]
        assert [tokenizer.encode(t) for t in texts] == [c["ids"] for c in case["inputs"]], \
            case["name"]
        assert tokenizer.encode_batch(texts, num_threads=1) == [c["ids"] for c in case["inputs"]]
        relations.update(check["relation"] for check in case["checks"])
    assert relations == {"eq", "lt", "gt"}  # exact ties and both near-misses are covered


def test_small_model_fixture(small_tokenizer):
    assert small_tokenizer.vocab_size == 1000
    assert small_tokenizer.decode(small_tokenizer.encode("你好 world\n")) == "你好 world\n"


def test_fixture_inputs_come_from_the_shipped_corpora():
    for m in MODELS:
        for source in m["input"]["sources"]:
            assert (ROOT / source["file"]).is_file()
            assert source["file"].startswith("corpora/")
    assert CORPORA.is_dir()
