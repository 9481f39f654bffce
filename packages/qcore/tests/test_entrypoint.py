"""The entry-point wrapper every CLI uses: one line and a non-zero exit for every failure."""

from __future__ import annotations

import io

import pytest

from qcore.entrypoint import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    TRACEBACK_ENV,
    CliParser,
    entry_point,
    one_line,
    run_cli,
)
from qcore.errors import InvalidProblem


class ToolError(ValueError):
    pass


def run(body, **kwargs):
    err = io.StringIO()
    code = run_cli("tool", body, stderr=err, **kwargs)
    return code, err.getvalue()


def raises(exc):
    def body():
        raise exc

    return body


def test_success_and_explicit_codes():
    assert run(lambda: 0) == (0, "")
    assert run(lambda: None) == (0, "")
    assert run(lambda: 3) == (3, "")


def test_qcore_errors_and_listed_errors_are_one_line_exit_2():
    code, err = run(raises(InvalidProblem("k: 0; it must be\n a positive integer.")))
    assert (code, err) == (EXIT_USAGE, "tool: error: k: 0; it must be a positive integer.\n")
    code, err = run(raises(ToolError("graph.k: 1.5")), user_errors=(ToolError,))
    assert (code, err) == (EXIT_USAGE, "tool: error: graph.k: 1.5\n")


def test_file_errors_name_the_file():
    code, err = run(lambda: open("/no/such/dir/file.json"))  # noqa: SIM115
    assert code == EXIT_USAGE
    assert err == "tool: error: /no/such/dir/file.json: No such file or directory\n"


def test_an_unexpected_exception_is_a_one_line_internal_error(monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    code, err = run(raises(KeyError("surprise")))  # not listed: a bug, not bad input
    assert code == EXIT_INTERNAL and len(err.splitlines()) == 1
    assert "internal error: KeyError: 'surprise'" in err and TRACEBACK_ENV in err
    assert "Traceback" not in err


def test_the_traceback_is_available_on_request(monkeypatch):
    monkeypatch.setenv(TRACEBACK_ENV, "1")
    with pytest.raises(KeyError):
        run(raises(KeyError("surprise")))


def test_interrupt_memory_and_closed_pipe():
    assert run(raises(KeyboardInterrupt())) == (EXIT_INTERRUPTED, "tool: interrupted\n")
    code, err = run(raises(MemoryError()))
    assert code == EXIT_USAGE and "ran out of memory" in err
    assert run(raises(BrokenPipeError())) == (0, "")


def test_system_exit_codes_pass_through():
    assert run(raises(SystemExit(0))) == (0, "")
    assert run(raises(SystemExit(None))) == (0, "")
    assert run(raises(SystemExit(4))) == (4, "")
    assert run(raises(SystemExit("bad\nthing"))) == (EXIT_USAGE, "tool: error: bad thing\n")


def test_parser_errors_are_one_line_with_a_pointer_to_help(capsys):
    parser = CliParser(prog="tool")
    sub = parser.add_subparsers(dest="command", required=True)
    child = sub.add_parser("route")
    child.add_argument("-k", type=int)
    assert isinstance(child, CliParser)

    @entry_point("tool")
    def main(argv):
        parser.parse_args(argv)
        return 0

    assert main(["route", "-k", "x"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == (
        "tool route: error: argument -k: invalid int value: 'x' (see tool route --help)\n"
    )
    assert main(["--help"]) == 0
    assert "usage: tool" in capsys.readouterr().out


def test_one_line():
    assert one_line("a\n  b\tc\r\n") == "a b c"
