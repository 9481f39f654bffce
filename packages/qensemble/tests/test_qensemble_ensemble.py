"""Ensemble training (serial backend: in-process, fast), retries, checkpoints, combining."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

import qensemble as qe
from qensemble.faults import FailOnce
from qensemble.training import checkpoint_paths


@functools.cache
def _data() -> tuple[np.ndarray, ...]:
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order].astype(np.float32), y[order]
    return x[:300], y[:300], x[300:400], y[300:400], x[400:], y[400:]


FACTORY = qe.MLPFactory(30, 2, hidden=(8,))


def _ensemble(**kw) -> qe.Ensemble:
    model_fn = kw.pop("model_fn", FACTORY)
    n_members = kw.pop("n_members", 3)
    params = {"backend": "serial", "workers": 2, "epochs": 3, "seed": 1, **kw}
    return qe.Ensemble(model_fn, n_members, **params)


def test_members_train_and_combine() -> None:
    x, y, xv, yv, xt, yt = _data()
    events: list[qe.ProgressEvent] = []
    ens = _ensemble(progress=events.append).fit(x, y, xv, yv)
    assert [m.index for m in ens.members] == [0, 1, 2]
    assert [e.kind for e in events] == ["done"] * 3 and events[-1].finished == 3
    assert all(m.val_accuracy > 0.85 for m in ens.members)
    probs = ens.member_probs(xt)
    assert probs.shape == (3, len(xt), 2)
    # Different seeds and bootstrap views give different members.
    assert not np.allclose(probs[0], probs[1])
    for method in ("mean", "vote", "confidence", "softmax_score", "correlation", "stacking"):
        out = ens.predict_proba(xt, method)
        assert out.shape == (len(xt), 2)
        assert ens.score(xt, yt, method) > 0.85, method
    np.testing.assert_allclose(ens.predict_proba(xt, "mean"), probs.mean(axis=0))
    assert len(ens.select(2, "qubo").members) == 2
    assert len(ens.select(2, "caruana").members) == 2
    sub = ens.predict_proba(xt, "mean", members=[0, 2])
    np.testing.assert_allclose(sub, probs[[0, 2]].mean(axis=0))


def test_training_is_reproducible() -> None:
    x, y, xv, yv, *_ = _data()
    a = _ensemble(n_members=2).fit(x, y, xv, yv)
    b = _ensemble(n_members=2).fit(x, y, xv, yv)
    for ma, mb in zip(a.members, b.members, strict=True):
        for key in ma.state:
            np.testing.assert_array_equal(ma.state[key], mb.state[key])


def test_soups_need_a_shared_initialisation() -> None:
    x, y, xv, yv, xt, yt = _data()
    ens = _ensemble(share_init=True, view="full").fit(x, y, xv, yv)
    assert ens.score(xt, yt, "uniform_soup") > 0.85
    greedy = ens.greedy_soup()
    assert greedy.ingredients and set(greedy.ingredients) <= {0, 1, 2}
    assert ens.score(xt, yt, "greedy_soup") > 0.85
    plain = _ensemble().fit(x, y, xv, yv)
    with pytest.raises(qe.InvalidParameter, match=r"^method: uniform_soup .* share_init=True"):
        plain.predict_proba(xt, "uniform_soup")


def test_failed_member_is_retried_on_another_worker(tmp_path: Path) -> None:
    x, y, xv, yv, *_ = _data()
    faulty = FailOnce(FACTORY, str(tmp_path / "fired"), at_step=2, mode="raise")
    events: list[qe.ProgressEvent] = []
    ens = _ensemble(model_fn=faulty, progress=events.append).fit(x, y, xv, yv)
    assert len(ens.members) == 3 and not ens.failures
    assert [e.kind for e in events].count("retry") == 1
    failed = [entry for entry in ens.dispatch_log if entry[2] == "failed"]
    assert len(failed) == 1
    member, worker = failed[0][:2]
    retried = [e for e in ens.dispatch_log if e[0] == member and e[2] == "ok"]
    assert retried[0][1] != worker  # the work moved to the other worker


def test_member_dropped_with_a_record_when_retries_run_out(tmp_path: Path) -> None:
    x, y, xv, yv, *_ = _data()
    faulty = FailOnce(FACTORY, str(tmp_path / "fired"), at_step=2, mode="raise")
    ens = _ensemble(model_fn=faulty, max_retries=0).fit(x, y, xv, yv)
    assert len(ens.members) == 2
    assert len(ens.failures) == 1
    failure = ens.failures[0]
    assert failure.attempts == 1 and "RuntimeError: injected fault" in failure.errors[0]


def test_checkpoints_resume_members(tmp_path: Path) -> None:
    x, y, xv, yv, *_ = _data()
    ckpt = tmp_path / "ckpt"
    first = _ensemble(checkpoint_dir=ckpt).fit(x, y, xv, yv)
    assert all(checkpoint_paths(ckpt, i)[0].exists() for i in range(3))
    events: list[qe.ProgressEvent] = []
    second = _ensemble(checkpoint_dir=ckpt, progress=events.append).fit(x, y, xv, yv)
    assert [e.kind for e in events] == ["resumed"] * 3
    for a, b in zip(first.members, second.members, strict=True):
        np.testing.assert_array_equal(a.state["0.weight"], b.state["0.weight"])
    with pytest.raises(qe.InvalidParameter, match=r"^checkpoint_dir: member_000.pt"):
        _ensemble(checkpoint_dir=ckpt, epochs=4).fit(x, y, xv, yv)


def test_a_crash_mid_training_resumes_from_the_epoch_checkpoint(tmp_path: Path) -> None:
    x, y, xv, yv, *_ = _data()
    marker = tmp_path / "fired"
    # Step 12 is in epoch 3 (5 batches of 64 per epoch on 300 bootstrap rows).
    faulty = FailOnce(FACTORY, str(marker), at_step=12, mode="raise")
    crashed = _ensemble(model_fn=faulty, n_members=1, checkpoint_dir=tmp_path / "a").fit(
        x, y, xv, yv
    )
    assert crashed.members[0].resumed_from_epoch == 2
    clean = _ensemble(model_fn=faulty, n_members=1, checkpoint_dir=tmp_path / "b").fit(x, y, xv, yv)
    assert clean.members[0].resumed_from_epoch == 0
    for key, value in clean.members[0].state.items():
        np.testing.assert_array_equal(crashed.members[0].state[key], value)


def test_bad_input() -> None:
    x, y, xv, yv, *_ = _data()
    with pytest.raises(qe.EmptyEnsemble, match=r"^n_members: is 0"):
        qe.Ensemble(FACTORY, 0)
    with pytest.raises(qe.InvalidParameter, match=r"^n_members: "):
        qe.Ensemble(FACTORY, -2)
    with pytest.raises(qe.ModelNotPicklable, match=r"^model_fn: cannot be pickled"):
        qe.Ensemble(lambda: FACTORY(), 2)
    with pytest.raises(qe.InvalidParameter, match=r"^backend: "):
        qe.Ensemble(FACTORY, 2, backend="dask")
    with pytest.raises(qe.InvalidParameter, match=r"^view: "):
        qe.Ensemble(FACTORY, 2, view="mixup")
    with pytest.raises(qe.InvalidParameter, match=r"^lr: "):
        qe.Ensemble(FACTORY, 2, lr=0)
    with pytest.raises(qe.InvalidParameter, match=r"^balancer: "):
        qe.Ensemble(FACTORY, 2, balancer="random")
    with pytest.raises(
        qe.MemberShapeMismatch, match=r"^model_fn: the model outputs shape \(2, 3\)"
    ):
        _ensemble(model_fn=qe.MLPFactory(30, 3)).fit(x, y, xv, yv)
    with pytest.raises(qe.MemberShapeMismatch, match=r"^y: has shape"):
        _ensemble().fit(x, y[:-1])
    bad = x.copy()
    bad[3, 4] = np.nan
    with pytest.raises(qe.InvalidParameter, match=r"^x: contains NaN"):
        _ensemble().fit(bad, y)
    with pytest.raises(qe.MemberShapeMismatch, match=r"^x_val: has features"):
        _ensemble().fit(x, y, xv[:, :5], yv)
    with pytest.raises(qe.EmptyEnsemble, match=r"^Ensemble: has no trained members"):
        _ensemble().predict_proba(x)
    ens = _ensemble(n_members=2, epochs=1).fit(x, y, xv, yv)
    with pytest.raises(qe.EmptyEnsemble, match=r"^members: is empty"):
        ens.predict_proba(x, members=[])
    with pytest.raises(qe.InvalidParameter, match=r"^members: index 5 out of range"):
        ens.predict_proba(x, members=[5])
    with pytest.raises(qe.InvalidParameter, match=r"^method: "):
        ens.predict_proba(x, "median")
    with pytest.raises(qe.MemberShapeMismatch, match=r"^x: has features"):
        ens.predict_proba(x[:, :4])


def test_all_members_failing_is_an_error_with_the_records(tmp_path: Path) -> None:
    x, y, xv, yv, *_ = _data()
    # One member, no retries, and it fails once: nothing is left to combine.
    faulty = FailOnce(FACTORY, str(tmp_path / "fired"), at_step=1, mode="raise")
    with pytest.raises(qe.NoMembersTrained, match=r"^n_members: all 1 members failed") as info:
        _ensemble(model_fn=faulty, n_members=1, max_retries=0).fit(x, y, xv, yv)
    assert len(info.value.failures) == 1
