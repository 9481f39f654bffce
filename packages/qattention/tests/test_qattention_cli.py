"""The command line: JSON out, one-line errors with exit 2, never a traceback (fuzzed)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qattention.cli import main


def test_topk_and_rope_print_json(capsys):
    assert main(["topk", "--length", "128", "--top-k", "128"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rel_error"] < 1e-6
    assert main(["topk", "--length", "128", "--top-k", "8", "--causal"]) == 0
    assert 0 < json.loads(capsys.readouterr().out)["rel_error"] < 2
    code = main(
        [
            "rope",
            "--head-dim",
            "8",
            "--scaling",
            "yarn",
            "--factor",
            "4",
            "--original-max-position",
            "512",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rotary_dim"] == 8 and len(out["inv_freq"]) == 4
    assert out["attention_factor"] == pytest.approx(0.1 * math.log(4) + 1)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["topk", "--top-k", "0"], "top_k"),
        (["topk", "--length", "0"], "--length"),
        (["topk", "--length", "40000", "--heads", "4"], "2^30"),
        (["rope", "--head-dim", "7"], "rotary dims"),
        (["rope", "--head-dim", "8", "--scaling", "yarn"], "original_max_position"),
        (["rope", "--head-dim", "x"], "invalid int"),
        (["heads", "/nonexistent/model"], "not a local"),
        (["nope"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, needle, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "--head-dim",
                "--base",
                "--partial-rotary-factor",
                "--scaling",
                "--factor",
                "--original-max-position",
                "--seq-len",
                "8",
                "0",
                "-3",
                "1e400",
                "nan",
                "yarn",
                "ntk",
                "dynamic",
                "linear",
                "0.5",
                "4096",
                "abc",
                "",
            ]
        ),
        max_size=8,
    )
)
def test_fuzz_rope_arguments(tokens):
    try:
        code = main(["rope", *tokens])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    assert code in (0, 2)
