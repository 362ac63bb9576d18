"""A training killed outright (SIGKILL) resumes from its --tmp-dir and gives the same model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import CORPORA

CORPUS = str(CORPORA / "mixed.txt")


def _command(tmp_path, *extra):
    return [sys.executable, "-m", "bytepiece", "train", CORPUS, "-o", str(tmp_path / "m.json"),
            "--vocab-size", "2000", "--max-memory", "300K", "--tmp-dir",
            str(tmp_path / "tmp"), "--workers", "2", *extra]


def _manifest(tmp_path) -> dict:
    try:
        with open(tmp_path / "tmp" / "bytepiece-train" / "manifest.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _kill_when(tmp_path, ready) -> dict:
    """Start the training, SIGKILL it once ``ready(manifest)``; returns that manifest."""
    process = subprocess.Popen(_command(tmp_path), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300  # a cold numba cache compiles first
    try:
        while time.monotonic() < deadline:
            manifest = _manifest(tmp_path)
            if manifest and ready(manifest["phases"]):
                process.send_signal(signal.SIGKILL)
                process.wait()
                return _manifest(tmp_path)
            if process.poll() is not None:
                pytest.fail("the training ended before it could be killed: "
                            + process.stderr.read().decode())
            time.sleep(0.005)
        pytest.fail("the training made no runs in time")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def whole_model(tmp_path_factory) -> bytes:
    """The model of the same command run without interruption (in memory)."""
    out = tmp_path_factory.mktemp("whole")
    subprocess.run([sys.executable, "-m", "bytepiece", "train", CORPUS, "-o",
                    str(out / "m.json"), "--vocab-size", "2000", "-q"], check=True)
    return (out / "m.json").read_bytes()


@pytest.mark.parametrize("phase", ["ngrams", "pieces"])
def test_a_killed_training_resumes_with_the_same_model(tmp_path, whole_model, phase):
    def ready(phases):
        state = phases.get(phase, {})
        return len(state.get("runs", [])) >= 20 and not state.get("done")

    left = _kill_when(tmp_path, ready)
    assert left["phases"][phase]["texts"] > 0
    done_before = left["phases"][phase]["texts"]
    result = subprocess.run(_command(tmp_path), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "(resumed from an unfinished run)" in result.stderr
    # only what the killed run had not committed was counted again
    spilled = result.stderr.split("spilled ")[1].split(" n-gram and ")
    new_ngram_runs, new_piece_runs = int(spilled[0]), int(spilled[1].split()[0])
    if phase == "ngrams":
        assert 0 < new_ngram_runs < 145 - 15, result.stderr
    else:
        assert new_ngram_runs == 0 and 0 < new_piece_runs < 145 - 15, result.stderr
    assert done_before > 0
    assert (tmp_path / "m.json").read_bytes() == whole_model
    assert os.listdir(tmp_path / "tmp") == []


def test_a_changed_parameter_or_input_is_refused(tmp_path, whole_model):
    import shutil

    corpus = tmp_path / "c.txt"
    shutil.copy(CORPUS, corpus)

    def command(*extra):
        return [a if a != CORPUS else str(corpus) for a in _command(tmp_path, *extra)]

    process = subprocess.Popen(command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and \
            len(_manifest(tmp_path).get("phases", {}).get("ngrams", {}).get("runs", [])) < 5:
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.005)
    process.kill()
    process.wait()

    changed = subprocess.run(command("--min-count", "3"), capture_output=True, text=True)
    assert changed.returncode == 1
    assert changed.stderr.count("\n") == 1, changed.stderr
    assert "holds an unfinished training with parameter min_count=2 (now 3)" in changed.stderr
    assert not (tmp_path / "m.json").exists()

    resumed = subprocess.run(command(), capture_output=True, text=True)  # still resumable
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "m.json").read_bytes() == whole_model

    process = subprocess.Popen(command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while len(_manifest(tmp_path).get("phases", {}).get("ngrams", {}).get("runs", [])) < 5:
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.005)
    process.kill()
    process.wait()
    os.utime(corpus, ns=(0, 0))
    touched = subprocess.run(command(), capture_output=True, text=True)
    assert touched.returncode == 1 and touched.stderr.count("\n") == 1, touched.stderr
    assert f"input {corpus} changed since (size or modification time)" in touched.stderr


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_removes_the_temporary_folder(tmp_path, sig, status):
    """SIGTERM and Ctrl-C (unlike SIGKILL) stop the run cleanly: no model, no runs left."""
    process = subprocess.Popen(_command(tmp_path), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(_manifest(tmp_path).get("phases", {}).get("ngrams", {}).get("runs", [])) < 5:
        assert process.poll() is None and time.monotonic() < deadline, \
            process.stderr.read().decode()
        time.sleep(0.005)
    process.send_signal(sig)
    assert process.wait(timeout=60) == status, process.stderr.read().decode()
    assert os.listdir(tmp_path / "tmp") == []
    assert not (tmp_path / "m.json").exists()
