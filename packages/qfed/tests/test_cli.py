import json

from qfed.cli import main


def test_settings_lists_every_knob(capsys):
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    for key in ("num-clients", "epsilon", "ffa", "selection", "lora-top-layers"):
        assert key in out


def test_bad_setting_is_a_clear_error_not_a_traceback(capsys):
    assert main(["simulate", "--num-clients", "3", "--clients-per-round", "5"]) == 2
    assert "clients_per_round (5) cannot exceed num_clients (3)" in capsys.readouterr().err


def test_simulate_tiny_run_prints_accuracy_and_epsilon(tmp_path, capsys):
    report = tmp_path / "run.json"
    argv = [
        "simulate",
        "--model",
        "tiny",
        "--num-clients",
        "3",
        "--clients-per-round",
        "2",
        "--rounds",
        "1",
        "--max-examples-per-client",
        "40",
        "--max-test-examples",
        "60",
        "--max-length",
        "24",
        "--report",
        str(report),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "final accuracy" in out and "epsilon spent" in out
    assert json.loads(report.read_text())["round"] == 1


def test_a_boolean_flag_that_is_not_a_boolean_is_refused(capsys):
    assert main(["simulate", "--insecure-seeded-noise", "maybe"]) == 2
    assert "insecure-seeded-noise" in capsys.readouterr().err
