"""Shared fixtures: the small models the tests run on."""

from __future__ import annotations

import pathlib
import signal

import pytest

# A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored in
# every process started after it: the tests that interrupt a command with SIGINT need it
# back (Python's own handler here; children then start with the default).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent
FIXTURES = HERE / "fixtures"
CORPORA = ROOT / "corpora"

#: Code run in a subprocess to record numba's compilations: the list ``compiled`` gets
#: each kernel compiled, named "module.function" in ``bytepiece._kernels`` (as
#: ``_kernels.precompile.SIGNATURES`` names them).
COMPILE_LISTENER = r"""
import numba.core.event as ev

compiled = []

class _CompileListener(ev.Listener):
    def on_start(self, event):
        pass

    def on_end(self, event):
        f = event.data["dispatcher"].py_func
        compiled.append(f"{f.__module__.rsplit('.', 1)[1]}.{f.__name__}")

ev.register("numba:compile", _CompileListener())
"""


@pytest.fixture(autouse=True, scope="session")
def _private_model_cache(tmp_path_factory):
    """Compiled models go to a temporary folder, not the user's cache."""
    import os

    os.environ["BYTEPIECE_CACHE_DIR"] = str(tmp_path_factory.mktemp("model-cache"))


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


def invoke_cli(args, input=None, catch_exceptions: bool = True):
    """Run ``bytepiece ARGS`` in-process with click's CliRunner; returns its Result
    (exit_code, stdout, stdout_bytes, stderr). Options pass through untouched."""
    import click
    from click.testing import CliRunner

    from bytepiece_cli.main import main

    @click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def entry(args):
        main(list(args))

    return CliRunner().invoke(entry, [str(a) for a in args], input=input,
                              catch_exceptions=catch_exceptions)


def import_scripts(folder, names):
    """Import the scripts ``names`` of ``folder`` (benchmarks/, corpora/: they import their
    siblings by bare names) as modules; a generator for a fixture, which forgets them after."""
    import importlib
    import sys

    sys.path.insert(0, str(folder))
    try:
        yield {name: importlib.import_module(name) for name in names}
    finally:
        sys.path.remove(str(folder))
        for name in names:
            sys.modules.pop(name, None)
