"""``bytepiece compile``: fill numba's cache with every kernel the commands use."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary line.")
def command(quiet):
    """Compile every kernel the commands use into numba's cache, ahead of the first run.

    On a fresh install the first train or encode compiles the kernels it needs
    (seconds each); after this, no run compiles. For container images and cluster
    workers. Prints each kernel with its argument types, then where the cache is:
    NUMBA_CACHE_DIR if set, else beside the installed package (when that is
    read-only, set NUMBA_CACHE_DIR to a writable folder, here and at run time).

    \b
    Examples:
      bytepiece compile
      NUMBA_CACHE_DIR=/opt/numba-cache bytepiece compile
    """
    import sys
    import time

    from bytepiece._kernels.precompile import cache_folder, compile_kernels

    def show(item) -> None:
        if not quiet:
            state = "cached  " if item.cached else "compiled"
            click.echo(f"{state} {item.seconds:5.1f}s  {item.kernel}({item.args})")
            sys.stdout.flush()

    start = time.perf_counter()
    done = compile_kernels(show)
    compiled = sum(not item.cached for item in done)
    kernels = len({item.kernel for item in done})
    click.echo(f"{len(done)} specializations of {kernels} kernels in "
               f"{time.perf_counter() - start:.1f}s ({compiled} compiled, "
               f"{len(done) - compiled} already in the cache); cache: {cache_folder()}")
