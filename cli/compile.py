"""``bytepiece compile``: fill numba's cache with every kernel the commands use."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-m", "--model", "models", multiple=True, metavar="MODEL",
              help="Also build this model's entry in the model cache (BYTEPIECE_CACHE_DIR), "
                   "as its first use would; repeatable.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary lines.")
def command(models, quiet):
    """Compile every kernel the commands use into numba's cache, ahead of the first run.

    On a fresh install the first train or encode compiles the kernels it needs
    (seconds each); after this, no run compiles. For container images and cluster
    workers. Prints each kernel with its argument types, then where the cache is:
    NUMBA_CACHE_DIR if set, else beside the installed package (when that is
    read-only, set NUMBA_CACHE_DIR to a writable folder, here and at run time).

    \b
    Examples:
      bytepiece compile
      bytepiece compile -q
      NUMBA_CACHE_DIR=/opt/numba-cache bytepiece compile -m model.json
    """
    import sys
    import time

    from bytepiece._kernels.precompile import cache_folder, compile_kernels

    from ._common import load_tokenizer

    entries = []
    for path in models:  # first: a bad model stops the command before minutes of compiling
        load_tokenizer(path, command="compile")  # loading writes its model-cache entry
        entries.append(_model_entry(path))

    def show(item) -> None:
        if not quiet:
            state = "cached  " if item.cached else "compiled"
            click.echo(f"{state} {item.seconds:5.2f}s  {item.kernel}({item.args})")
            sys.stdout.flush()

    start = time.perf_counter()
    done = compile_kernels(show)
    compiled = sum(not item.cached for item in done)
    kernels = len({item.kernel for item in done})
    click.echo(f"{len(done)} specializations of {kernels} kernels in "
               f"{time.perf_counter() - start:.1f}s ({compiled} compiled, "
               f"{len(done) - compiled} already in the cache); cache: {cache_folder()}")
    for path, entry in zip(models, entries):
        click.echo(f"model {path}: {entry}")


def _model_entry(path: str) -> str:
    """Where the model cache holds the model ``path`` (once loaded), or why it does not."""
    import os

    from bytepiece.cache import entry_path
    from bytepiece.model_file import read_model_file

    entry = entry_path(read_model_file(path))
    if entry is None:
        return "not cached (BYTEPIECE_CACHE_DIR is set to an empty string)"
    if os.path.exists(entry):
        return f"cached in {entry}"
    return f"not cached ({entry} could not be written)"
