"""The command line: a key printed once, bad input as one line on stderr with exit 2."""

from __future__ import annotations

import pytest

from qservice.cli import main


def test_create_key_prints_a_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QSERVICE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert main(["create-key", "alice", "--scopes", "read", "jobs"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("qs_") and len(key) > 40


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["create-key", "bob", "--scopes", "root"], "scopes"),
        (["create-key", "", "--scopes", "read"], "name"),
        (["migrate", "--database-url", "mysql://x"], "database_url"),
        (["serve", "--port", "70000", "--database-url", "sqlite:///x.db"], "port"),
        (["serve", "--workers", "-1"], "workers"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err and "Traceback" not in err
