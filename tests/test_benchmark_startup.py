"""The pure parts of benchmarks/startup.py: its verdicts and tables (no timing here)."""

from __future__ import annotations

import doctest

import pytest

from conftest import ROOT, import_scripts


@pytest.fixture(scope="module")
def startup():
    for modules in import_scripts(ROOT / "benchmarks", ["startup", "_report"]):
        yield modules["startup"]


def test_docstring_examples(startup):
    failures, tried = doctest.testmod(startup)
    assert tried >= 7 and failures == 0


def test_after_compile_allows_only_noise(startup):
    assert startup.no_slower(2.0, 2.0)
    assert startup.no_slower(2.2, 2.0)
    assert not startup.no_slower(2.3, 2.0)
    assert startup.no_slower(0.2, 0.1)  # short runs: 0.1 s of noise
    assert not startup.no_slower(0.25, 0.1)


def test_first_run_rows_hold_each_command_to_its_limit(startup):
    times = {"train_cold": 5.9, "train_warm": 2.0, "train_compiled": 1.9,
             "encode_cold": 2.6, "encode_warm": 0.5, "encode_compiled": 0.5}
    train, encode = startup.first_run_rows(times)
    assert train[:5] == ["train", "5.90", "2.00", "1.90", "3.90"]
    assert train[-1] == "met; met"
    assert encode[4] == "2.10"
    assert encode[-1] == "**not met**; met"


def test_startup_rows_and_table(startup):
    rows = startup.startup_rows(0.1, 0.081)
    assert [row[-1] for row in rows] == ["met", "**not met**"]
    table = startup.markdown_table(["command", "seconds", "target", ""], rows)
    assert table[1] == "|---|---|---|---|"
    assert table[2].startswith("| `echo hello \\| bytepiece encode")  # | escaped in a cell
    assert table[2].count(" | ") == 3
    assert len(table) == 4


def test_commands_run_this_interpreter_with_fresh_caches(startup, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = startup.environment(tmp_path)
    assert env["NUMBA_CACHE_DIR"] == str(tmp_path / "numba")
    assert env["BYTEPIECE_CACHE_DIR"] == str(tmp_path / "models")
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert startup.bytepiece("--help")[1:] == ["-m", "bytepiece", "--help"]
