"""The Python API: the docstring examples (run as doctests), ``Tokenizer`` conveniences, typing."""

from __future__ import annotations

import doctest
import importlib
import importlib.resources
import pkgutil
import shutil

import pytest

import bytepiece
from bytepiece import InputError, Tokenizer
from conftest import FIXTURES

#: The model the docstring examples call "model.json" (BytePiece 0.6.3, English, 999 ids).
DOCTEST_MODEL = FIXTURES / "train" / "en-o6-mc2-list.json.1000"


def bytepiece_modules() -> list[str]:
    return sorted(info.name for info in pkgutil.walk_packages(bytepiece.__path__, "bytepiece.")
                  if not info.name.endswith("__main__"))


def test_docstring_examples(tmp_path, monkeypatch):
    """Every ``>>>`` example in the bytepiece modules runs and prints what it shows.

    They run in a folder holding the model as "model.json", with ``tokenizer``
    already loaded from it for the method docstrings.
    """
    shutil.copy(DOCTEST_MODEL, tmp_path / "model.json")
    monkeypatch.chdir(tmp_path)
    tokenizer = Tokenizer.from_file("model.json")
    attempted = {}
    failures = []
    for name in bytepiece_modules():
        module = importlib.import_module(name)
        result = doctest.testmod(module, extraglobs={"tokenizer": tokenizer},
                                 optionflags=doctest.ELLIPSIS, report=True)
        attempted[name] = result.attempted
        if result.failed:
            failures.append(name)
    assert not failures, f"doctest failures in {failures} (details above)"
    for name in ("bytepiece.tokenizer", "bytepiece.token_array", "bytepiece.normalize",
                 "bytepiece.convert.protobuf", "bytepiece.convert.huggingface"):
        assert attempted[name] > 0, f"{name} has no examples"


def test_from_file_save_and_vocab(tmp_path, small_model=DOCTEST_MODEL):
    tokenizer = Tokenizer.from_file(small_model)
    assert repr(tokenizer) == f"Tokenizer({str(small_model)!r}, vocab_size=999)"
    assert len(tokenizer) == tokenizer.vocab_size == 999
    vocab = tokenizer.vocab()
    assert len(vocab) == 999 and vocab["<pad>"] == 0 and vocab[b"\x00"] == 3
    assert all(tokenizer.id_to_piece(i) == piece for piece, i in vocab.items())
    assert list(tokenizer) == [tokenizer.id_to_piece(i) for i in range(999)]
    vocab[b"\xff\xfe"] = 5                   # a copy: the tokenizer is not changed
    assert b"\xff\xfe" not in tokenizer.vocab()
    tokenizer.save(tmp_path / "copy.json")
    copy = Tokenizer.from_file(tmp_path / "copy.json", seed=3)
    assert copy.vocab() == tokenizer.vocab()
    text = "It is a truth universally acknowledged\n\n that a single man"
    assert copy.encode(text) == tokenizer.encode(text)
    assert copy.encode(text, alpha=0.5) == Tokenizer(tmp_path / "copy.json", seed=3).encode(
        text, alpha=0.5)
    with pytest.raises(InputError, match="expected a model file path, got dict"):
        Tokenizer.from_file({})


def test_special_ids_are_attributes():
    tokenizer = Tokenizer.from_file(DOCTEST_MODEL)
    assert (tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id) == (0, 1, 2)
    assert (Tokenizer.pad_id, Tokenizer.bos_id, Tokenizer.eos_id) == (0, 1, 2)
    ids = tokenizer.encode("hi", add_bos=True, add_eos=True)
    assert ids[0] == tokenizer.bos_id and ids[-1] == tokenizer.eos_id
    assert [tokenizer.id_to_piece(i) for i in (0, 1, 2)] == ["<pad>", "<bos>", "<eos>"]


def test_the_package_is_typed():
    assert importlib.resources.files("bytepiece").joinpath("py.typed").is_file()
    hints = Tokenizer.encode.__annotations__
    assert hints["return"] == "list[int]" and hints["text"] == "str"
    for name in ("from_file", "save", "vocab", "__iter__", "encode_batch", "decode"):
        assert "return" in getattr(Tokenizer, name).__annotations__, name
