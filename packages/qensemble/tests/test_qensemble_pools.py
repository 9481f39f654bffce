"""The process-pool and Ray backends (real worker processes; spawn costs a torch import each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

import qensemble as qe
from qensemble.faults import FailOnce

FACTORY = qe.MLPFactory(30, 2, hidden=(8,))


def _data() -> tuple[np.ndarray, ...]:
    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
    return x[:300], y[:300], x[300:400], y[300:400]


@pytest.mark.slow
def test_process_pool_survives_a_worker_crash(tmp_path: Path) -> None:
    """A worker process that dies (os._exit) is replaced; its member moves to the other worker
    and resumes from its epoch checkpoint; the result equals the serial backend's."""
    x, y, xv, yv = _data()
    faulty = FailOnce(FACTORY, str(tmp_path / "fired"), at_step=12, mode="exit")
    kw = {"workers": 2, "epochs": 3, "seed": 3, "checkpoint_dir": None}
    events: list[qe.ProgressEvent] = []
    local = qe.Ensemble(
        faulty,
        2,
        backend="local",
        progress=events.append,
        **{**kw, "checkpoint_dir": tmp_path / "c"},
    ).fit(x, y, xv, yv)
    assert len(local.members) == 2 and not local.failures
    retries = [e for e in events if e.kind == "retry"]
    assert len(retries) == 1 and "WorkerLost" in retries[0].message
    crashed = retries[0].index
    assert local.members[crashed].resumed_from_epoch == 2
    failed = [e for e in local.dispatch_log if e[0] == crashed and e[2] == "failed"]
    succeeded = [e for e in local.dispatch_log if e[0] == crashed and e[2] == "ok"]
    assert failed[0][1] != succeeded[0][1]  # the work moved to the other worker
    serial = qe.Ensemble(faulty, 2, backend="serial", **kw).fit(x, y, xv, yv)
    for a, b in zip(local.members, serial.members, strict=True):
        for key, value in b.state.items():
            np.testing.assert_array_equal(a.state[key], value)


def test_member_tasks_survive_pickling() -> None:
    """What the process pool sends to a worker (cheap stand-in for the slow spawn tests)."""
    import pickle

    from qensemble.training import MemberTask, TrainConfig, train_member

    x, y, xv, yv = _data()
    task = MemberTask(0, 1, 1, FACTORY, x[:50], y[:50], xv[:20], yv[:20], TrainConfig(epochs=1))
    clone = pickle.loads(pickle.dumps(task))
    a, b = train_member(task), train_member(clone)
    for key, value in a.state.items():
        np.testing.assert_array_equal(b.state[key], value)


@pytest.mark.slow  # a spawned worker imports torch: ~10-30 s on the shared 2 cores
def test_local_pool_trains_in_worker_processes() -> None:
    x, y, xv, yv = _data()
    ens = qe.Ensemble(FACTORY, 2, backend="local", workers=1, epochs=1, seed=2).fit(x, y, xv, yv)
    serial = qe.Ensemble(FACTORY, 2, backend="serial", workers=1, epochs=1, seed=2).fit(
        x, y, xv, yv
    )
    import os

    assert {m.pid for m in ens.members} != {os.getpid()}
    for a, b in zip(ens.members, serial.members, strict=True):
        np.testing.assert_array_equal(a.state["0.weight"], b.state["0.weight"])


@pytest.mark.slow
def test_hung_worker_is_replaced_after_member_timeout(tmp_path: Path) -> None:
    x, y, xv, yv = _data()
    faulty = FailOnce(FACTORY, str(tmp_path / "fired"), at_step=3, mode="hang", hang_s=300)
    ens = qe.Ensemble(faulty, 2, backend="local", workers=2, epochs=2, member_timeout=60.0).fit(
        x, y, xv, yv
    )
    assert len(ens.members) == 2 and not ens.failures
    assert [entry[2] for entry in ens.dispatch_log].count("failed") == 1


@pytest.mark.slow
@pytest.mark.filterwarnings(
    # Ray's shutdown leaves its helper processes' Popen objects to the garbage collector
    "ignore::ResourceWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
)
def test_ray_backend_matches_serial() -> None:
    pytest.importorskip("ray")
    x, y, xv, yv = _data()
    kw = {"workers": 2, "epochs": 2, "seed": 5}
    ray_ens = qe.Ensemble(FACTORY, 3, backend="ray", **kw).fit(x, y, xv, yv)
    serial = qe.Ensemble(FACTORY, 3, backend="serial", **kw).fit(x, y, xv, yv)
    import ray

    assert not ray.is_initialized()  # the pool shut down the Ray it started
    for a, b in zip(ray_ens.members, serial.members, strict=True):
        for key, value in b.state.items():
            np.testing.assert_array_equal(a.state[key], value)


def test_ray_backend_without_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from qensemble.pools import RayPool

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(qe.MissingExtra, match=r"pip install 'qensemble\[ray\]'"):
        RayPool(2)
