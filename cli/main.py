"""Entry point of the ``bytepiece`` command: a click group whose commands load lazily.

Each command lives in its own module exposing ``command``; importing a module
only when its command runs keeps ``bytepiece --help`` and start-up cheap.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from bytepiece import __version__

_COMMANDS = {
    "encode": ("bytepiece_cli.encode", "Encode text into ids or pieces."),
    "decode": ("bytepiece_cli.decode", "Decode lines of ids back into text."),
    "train": ("bytepiece_cli.train", "Train a BytePiece model on a corpus."),
    "convert": ("bytepiece_cli.convert", "Convert models to or from SentencePiece, Hugging Face."),
    "eval": ("bytepiece_cli.eval", "Measure compression and speed of models on corpora."),
    "inspect": ("bytepiece_cli.inspect", "Describe a model's vocabulary."),
    "compile": ("bytepiece_cli.compile", "Compile the kernels into numba's cache ahead of use."),
    "special": ("bytepiece_cli.special", "List a model's special tokens, or add some."),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is used."""

    def list_commands(self, ctx):
        return sorted(_COMMANDS)

    def get_command(self, ctx, name):
        if name not in _COMMANDS:
            return None
        module = importlib.import_module(_COMMANDS[name][0])
        return module.command

    def format_commands(self, ctx, formatter):
        rows = [(name, _COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="bytepiece")
def cli():
    """bytepiece: train and use byte-level unigram tokenizers (BytePiece models).

    \b
    Examples:
      bytepiece train corpora/en.txt -o en.json --vocab-size 8000
      echo "Hello world" | bytepiece encode -m en.json
      bytepiece encode -m en.json corpora/en.txt | bytepiece decode -m en.json
    """


def main(argv=None):
    """Run the CLI. Every error is one line on stderr and a non-zero status, never a
    traceback (set BYTEPIECE_DEBUG=1 to see one); Ctrl-C exits quietly with 130,
    SIGTERM with 143."""
    from ._common import INTERRUPTED, announce, check_interrupted

    INTERRUPTED.clear()
    _terminate_like_interrupt()
    announce("handlers")
    try:
        status = _run(argv)
        check_interrupted()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - the last line of defence against tracebacks
        status = _report(e)
    if INTERRUPTED and argv is None:
        _exit_now(status)
    _exit(status)


def _run(argv) -> int | None:
    """Parse ``argv`` (default: the command line) and run its command; its status.

    What ``cli.main(standalone_mode=False)`` does, less its handling of Ctrl-C,
    which writes a blank line to stderr: ``_report`` says "interrupted" instead."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with cli.make_context("bytepiece", args) as ctx:
            return cli.invoke(ctx)
    except click.exceptions.Exit as e:  # --help, --version
        return e.exit_code


def _report(e: BaseException) -> int:
    """The exit status of a run that raised ``e``, after its one-line message on stderr."""
    from bytepiece.errors import BytePieceError

    from ._common import INTERRUPTED, ReaderGone

    if _interrupt_behind(e) is not None or isinstance(e, click.exceptions.Abort) or \
            INTERRUPTED:
        # an interrupt, possibly wrapped (click makes it Abort, numba's dispatcher a
        # SystemError) or swallowed (numba, while it compiles), and whatever failed
        # after it in code it left half-done: quietly 130 (Ctrl-C) or 143 (SIGTERM)
        terminated = _sigterm_seen() or isinstance(e, _Terminated)
        if not terminated:  # Ctrl-C: one line; on a terminal, after the "^C" it echoed
            sys.stderr.write(("\n" if _isatty(sys.stderr) else "") + "bytepiece: interrupted\n")
        return 143 if terminated else 130
    if isinstance(e, click.UsageError):
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        _error(f"{e.format_message()}{hint}")
        return e.exit_code
    if isinstance(e, click.ClickException):
        _error(e.format_message())
        return e.exit_code
    if isinstance(e, BytePieceError):
        _error(str(e))
        return 1
    if isinstance(e, (BrokenPipeError, ReaderGone)):
        # the reader went away (e.g. `| head`): stop quietly, as cat does
        _silence_stdout()
        return 141
    if isinstance(e, MemoryError):
        _error("out of memory")
        return 1
    if isinstance(e, OSError):
        _error(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}")
        return 1
    if os.environ.get("BYTEPIECE_DEBUG") or not isinstance(e, Exception):
        raise e
    _error(f"internal error: {type(e).__name__}: {e} (set BYTEPIECE_DEBUG=1 for details)")
    return 1


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


def _sigterm_seen() -> bool:
    import signal

    from ._common import INTERRUPTED

    return signal.SIGTERM in INTERRUPTED


def _exit(status) -> None:
    sys.exit(status or 0)


def _exit_now(status: int) -> None:
    """End an interrupted process without the interpreter's clean-up: outputs are already
    removed, and objects an interrupt may have left half-built (compiler state of numba
    and LLVM) must not run their destructors (a segfault at exit was seen in CI)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed pipe: nothing left to say
            pass
    os._exit(status)


#: Signals are not turned into exceptions while code from these packages runs: an
#: exception inside numba's compiler or llvmlite is swallowed or leaves their state
#: half-built; the signal is delivered again once they have returned.
_DEFER_INSIDE = tuple(f"{os.sep}{name}{os.sep}" for name in ("numba", "llvmlite"))
#: Seconds between deliveries of a deferred signal.
_REDELIVER_AFTER = 0.05


def _inside_deferring_code(frame) -> bool:
    """Whether ``frame`` or any caller is code of numba or llvmlite."""
    while frame is not None:
        name = frame.f_code.co_filename
        if any(part in name for part in _DEFER_INSIDE):
            return True
        frame = frame.f_back
    return False


def _redeliver(signum: int) -> None:
    """Send ``signum`` to this process again shortly (from a timer thread)."""
    import threading

    timer = threading.Timer(_REDELIVER_AFTER, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


def _interrupt_behind(error: BaseException) -> BaseException | None:
    """The KeyboardInterrupt or SIGTERM among the causes of ``error``, if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (KeyboardInterrupt, _Terminated)):
            return error
        error = error.__cause__ or error.__context__
    return None


class _Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C, so atomic outputs remove their temporary files."""


def _terminate_like_interrupt() -> None:
    """SIGTERM raises _Terminated; both it and SIGINT are also recorded, because library
    code may swallow the exception (numba does while it compiles): outputs check the
    record before they are committed (``_common.check_interrupted``)."""
    import signal

    from ._common import INTERRUPTED

    def record(signum, frame) -> bool:
        """Record the signal; True when it may raise here, False when it was deferred."""
        if signum not in INTERRUPTED:
            INTERRUPTED.append(signum)
        if _inside_deferring_code(frame):
            _redeliver(signum)
            return False
        return True

    def on_term(signum, frame):
        if record(signum, frame):
            raise _Terminated()

    def on_int(signum, frame):
        if record(signum, frame):
            raise KeyboardInterrupt()

    default_hook = sys.__unraisablehook__

    def unraisable(info):
        # a signal inside a callback from C: stay quiet, it is recorded; and once
        # interrupted, objects the signal left half-built (numba's compiler state)
        # may fail in their destructors: nothing to report either
        if not isinstance(info.exc_value, (KeyboardInterrupt, _Terminated)) and \
                not INTERRUPTED:
            default_hook(info)

    sys.unraisablehook = unraisable
    try:
        signal.signal(signal.SIGTERM, on_term)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, on_int)
    except ValueError:  # not the main thread (e.g. the CLI called from a test thread)
        pass


def _error(message: str) -> None:
    line = " ".join(message.split("\n")).strip()
    sys.stderr.write(f"bytepiece: error: {line}\n")


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
