"""One wrapper for every QuantumFlow command line: bad input ends in one line and exit code 2.

Every package's CLI (``qcore``, ``qcore bench``, ``qrouting``, and any later one: they all
may import qcore) wraps its ``main`` with :func:`entry_point` and builds its parser with
:class:`CliParser`::

    from qcore.entrypoint import CliParser, entry_point

    @entry_point("mytool", user_errors=(MyPackageError,))
    def main(argv: list[str] | None = None) -> int:
        args = CliParser(prog="mytool").parse_args(argv)
        ...
        return 0

What the wrapper guarantees, whatever the command does:

- an error the package raises on purpose (``user_errors``, plus every ``QcoreError``) prints
  ``prog: error: <message>`` on one line of stderr and returns ``EXIT_USAGE`` (2); the
  message is the exception's own, which names the field and the fix;
- a file the command could not open or write (``OSError``) does the same, naming the file;
- a bad command line (argparse, through :class:`CliParser`) does the same, with a pointer to
  ``--help``; ``--help`` itself returns 0;
- Ctrl-C returns 130 with one line; a closed pipe (``| head``) ends quietly;
- anything else is a bug in the project, not bad input: one line naming the exception type,
  exit code ``EXIT_INTERNAL`` (70, BSD's EX_SOFTWARE), and the traceback only when the
  environment sets ``QUANTUMFLOW_TRACEBACK=1``.

The wrapped function returns the exit code instead of raising ``SystemExit``, so tests call
``main([...])`` and compare the result; console scripts do ``sys.exit(main())``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import IO, Any, NoReturn, TypeVar

from qcore.errors import QcoreError

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "TRACEBACK_ENV",
    "CliParser",
    "entry_point",
    "one_line",
    "run_cli",
]

EXIT_OK = 0
EXIT_USAGE = 2  # bad input: arguments, files, values (argparse uses 2 too)
EXIT_INTERNAL = 70  # a bug: an exception nobody raised on purpose
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
TRACEBACK_ENV = "QUANTUMFLOW_TRACEBACK"

F = TypeVar("F", bound=Callable[..., Any])


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


def _describe_os_error(exc: OSError) -> str:
    reason = exc.strerror or one_line(exc) or type(exc).__name__
    if exc.filename is not None:
        target = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
        return f"{target}: {reason}"
    return reason


class CliParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line (no usage block) and exit 2.

    Sub-parsers made with ``add_subparsers`` are ``CliParser`` too (argparse builds them with
    the parent's class).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def run_cli(
    prog: str,
    body: Callable[[], int | None],
    *,
    user_errors: tuple[type[BaseException], ...] = (),
    stderr: IO[str] | None = None,
) -> int:
    """Run ``body()`` and turn whatever it raises into a one-line message and an exit code."""
    err = stderr if stderr is not None else sys.stderr
    expected = (QcoreError, *user_errors)

    def say(text: str) -> None:
        print(f"{prog}: {text}", file=err, flush=True)

    try:
        code = body()
    except SystemExit as exc:  # argparse (--help, or CliParser.error) and explicit exits
        if exc.code is None:
            return EXIT_OK
        if isinstance(exc.code, int):
            return exc.code
        say(f"error: {one_line(exc.code)}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        say("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly, and keep Python from complaining
        # about the unflushable stdout at exit
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is not a real file (captured in tests)
            pass
        return EXIT_OK
    except expected as exc:
        say(f"error: {one_line(exc)}")
        return EXIT_USAGE
    except OSError as exc:
        say(f"error: {one_line(_describe_os_error(exc))}")
        return EXIT_USAGE
    except MemoryError:
        say("error: ran out of memory; try a smaller problem or lower the sizes asked for.")
        return EXIT_USAGE
    except Exception as exc:
        if os.environ.get(TRACEBACK_ENV, "").strip() not in ("", "0"):
            raise
        detail = one_line(exc)
        say(
            f"internal error: {type(exc).__name__}" + (f": {detail}" if detail else "") + ". "
            f"This is a bug, not your input; please report it (set {TRACEBACK_ENV}=1 to see "
            "the traceback)."
        )
        return EXIT_INTERNAL
    return EXIT_OK if code is None else int(code)


def entry_point(
    prog: str, *, user_errors: tuple[type[BaseException], ...] = ()
) -> Callable[[F], F]:
    """Decorate a command's ``main(argv=None) -> int`` with :func:`run_cli`."""

    def decorate(main: F) -> F:
        @functools.wraps(main)
        def wrapper(*args: Any, **kwargs: Any) -> int:
            return run_cli(prog, lambda: main(*args, **kwargs), user_errors=user_errors)

        return wrapper  # type: ignore[return-value]

    return decorate
