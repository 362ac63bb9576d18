"""Shared fixtures: the small models the tests run on."""

from __future__ import annotations

import pathlib

import pytest

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent
FIXTURES = HERE / "fixtures"
CORPORA = ROOT / "corpora"


def make_model(counts: dict[bytes, int]) -> dict:
    """A pieces dict in the model-file format, with every single byte added (count 1)."""
    from bytepiece.model import Model

    full = {bytes([b]): 1 for b in range(256)}
    full.update(counts)
    return Model.from_counts(full).to_dict()


@pytest.fixture(scope="session")
def small_model_path() -> pathlib.Path:
    """A ~1000-piece model trained by BytePiece 0.6.3 (see fixtures/README.md)."""
    return FIXTURES / "models" / SMALL_MODEL


@pytest.fixture(scope="session")
def small_tokenizer(small_model_path):
    from bytepiece import Tokenizer

    return Tokenizer(small_model_path)


SMALL_MODEL = "ref-small.json"
