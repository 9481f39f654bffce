"""The README's Python blocks run against a live server."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(live, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    monkeypatch.setenv("QSERVICE_URL", live.url)
    monkeypatch.setenv("QSERVICE_KEY", live.keys["admin"])
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "exact -1.5 True" in out and "succeeded" in out
