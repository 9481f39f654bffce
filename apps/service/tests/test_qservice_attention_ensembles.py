"""qattention behind the API (top-k attention, diverse key subsets through qcore, RoPE, a
head-pruning plan as a job) and qensemble's training as a job. The endpoints run in this
process (starlette's TestClient), where the torch stack is loaded once for these tests and
the ONNX ones; the submission checks against the running service."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qservice import ServiceCallError

# starlette's TestClient still uses anyio's deprecated alias (third-party, not ours)
pytestmark = pytest.mark.filterwarnings(
    "ignore:The anyio.abc.BlockingPortal alias is deprecated:DeprecationWarning"
)


class _InProcess:
    """``request`` as ``qservice.Client`` has it, on an app in this process."""

    def __init__(self, http, key: str) -> None:  # type: ignore[no-untyped-def]
        self.http, self.headers = http, {"Authorization": f"Bearer {key}"}

    def request(self, method: str, path: str, **kw):  # type: ignore[no-untyped-def]
        response = self.http.request(method, path, headers=self.headers, **kw)
        if response.status_code >= 400:
            raise ServiceCallError(response.status_code, response.json())
        return response.json()


@pytest.fixture(scope="module")
def app(tmp_path_factory):  # type: ignore[no-untyped-def]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from fastapi.testclient import TestClient

    from qservice.app import create_app
    from qservice.config import Settings
    from qservice.db import Database
    from qservice.security import create_key

    folder = tmp_path_factory.mktemp("attention")
    settings = Settings(database_url=f"sqlite:///{folder / 'api.db'}", data_dir=folder / "data")
    db = Database(settings)
    db.migrate()
    with db.session() as s:
        key = create_key(s, "compute", ["compute"])
    db.dispose()
    with TestClient(create_app(settings)) as http:
        yield _InProcess(http, key)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_topk_attention_equals_full_attention_when_k_covers_every_key(app):
    rng = _rng(0)
    q, k, v = (rng.normal(size=(6, 8)).round(4).tolist() for _ in range(3))
    full = app.request("POST", "/v1/attention/topk", json={"q": q, "k": k, "v": v, "top_k": 6})
    assert full["rel_error_vs_full"] == pytest.approx(0.0, abs=1e-6)
    # the textbook formula, here, for the same inputs
    qa, ka, va = (np.asarray(m) for m in (q, k, v))
    scores = qa @ ka.T / math.sqrt(8)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(full["output"]), weights @ va, atol=1e-4)
    sparse = app.request("POST", "/v1/attention/topk", json={"q": q, "k": k, "v": v, "top_k": 2})
    assert 0 < sparse["rel_error_vs_full"] < 1
    with pytest.raises(ServiceCallError) as info:
        app.request("POST", "/v1/attention/topk", json={"q": q, "k": k, "v": v[:5], "top_k": 2})
    assert info.value.status == 422 and "k and v" in info.value.problem["detail"]
    big = [[0.0] * 257]
    with pytest.raises(ServiceCallError) as info:
        app.request("POST", "/v1/attention/topk", json={"q": big, "k": big, "v": big, "top_k": 1})
    assert info.value.status == 422 and "limit" in info.value.problem["detail"]


def test_key_subsets_qubo_proves_at_least_the_greedy_objective(app):
    rng = _rng(1)
    keys = rng.normal(size=(12, 4))
    keys[1] = keys[0]  # a duplicate key: diversity should not keep both
    scores = rng.normal(size=12)
    scores[0] = scores[1] = 3.0
    body = {"scores": scores.tolist(), "keys": keys.tolist(), "top_k": 4, "candidates": 10}
    exact = app.request("POST", "/v1/attention/key-subsets", json=body)
    greedy = app.request("POST", "/v1/attention/key-subsets", json={**body, "method": "greedy"})
    assert exact["solver"] == "exact" and greedy["solver"] == "greedy"
    assert len(exact["indices"]) == 4 and exact["objective"] >= greedy["objective"] - 1e-9
    assert not {0, 1} <= set(exact["indices"])
    with pytest.raises(ServiceCallError) as info:
        app.request("POST", "/v1/attention/key-subsets", json={**body, "keys": keys[:5].tolist()})
    assert info.value.status == 422 and "keys" in info.value.problem["detail"]


def test_rope_frequencies(app):
    out = app.request("POST", "/v1/attention/rope", json={"head_dim": 8, "base": 10000})
    assert out["rotary_dim"] == 8
    np.testing.assert_allclose(out["inv_freq"], [10000 ** (-i / 8) for i in (0, 2, 4, 6)])
    linear = app.request(
        "POST", "/v1/attention/rope", json={"head_dim": 8, "scaling": "linear", "factor": 4}
    )
    np.testing.assert_allclose(linear["inv_freq"], np.asarray(out["inv_freq"]) / 4)
    with pytest.raises(ServiceCallError) as info:
        app.request("POST", "/v1/attention/rope", json={"head_dim": 8, "scaling": "yarn"})
    assert info.value.status == 422


def test_head_pruning_plan_job(tmp_path):
    """The job's function in this process (the worker's dispatch is the same for every kind,
    and the torch stack is already imported here for the ONNX tests)."""
    from qservice.config import Settings
    from qservice.db import Database
    from qservice.errors import InvalidInput
    from qservice.jobs.registry import JobContext
    from qservice.routes.qattention import HeadPruningParams, run_head_pruning

    db = Database(Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}"))
    db.migrate()
    events: list[tuple[str, dict]] = []
    ctx = JobContext("job", lambda kind, data: events.append((kind, data)), tmp_path, db)
    try:
        result = run_head_pruning(HeadPruningParams(model="tiny", fraction=0.5), ctx)
        # qfed's tiny BERT: 2 layers x 2 heads; half pruned, at least one head kept per layer
        assert result["heads_before"] == 4 and result["heads_after"] == 2
        assert all(len(kept) >= 1 for kept in result["keep"].values())
        assert sorted(result["keep"]) == sorted(result["scores"])
        for layer, kept in result["keep"].items():  # the kept heads score highest per layer
            scores = result["scores"][layer]
            dropped = result["pruned"].get(layer, [])
            assert all(scores[k] >= scores[d] for k in kept for d in dropped)
        assert events and events[0][0] == "progress"
        with pytest.raises(InvalidInput, match="nobody"):
            run_head_pruning(HeadPruningParams(model="nobody"), ctx)
    finally:
        db.dispose()


def test_ensemble_training_job(tmp_path):
    """The job's function in this process (torch is loaded here already; the worker's
    dispatch is the same for every kind)."""
    from qservice.jobs.registry import JobContext
    from qservice.routes.qensemble import TrainingParams, run_training

    rng = _rng(2)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    y = rng.integers(0, 3, size=150)
    x = centres[y] + rng.normal(scale=0.5, size=(150, 2))
    params = TrainingParams(
        x=x[:120].tolist(),
        y=y[:120].tolist(),
        x_test=x[120:].tolist(),
        y_test=y[120:].tolist(),
        members=3,
        epochs=15,
        hidden=[8],
        select_k=2,
    )
    events: list[tuple[str, dict]] = []
    ctx = JobContext("job", lambda kind, data: events.append((kind, data)), tmp_path)
    result = run_training(params, ctx)
    assert [m["index"] for m in result["members"]] == [0, 1, 2]
    assert all(0.8 < m["val_accuracy"] <= 1.0 for m in result["members"])
    assert result["test_accuracy"]["mean"] > 0.8  # three well-separated blobs
    assert len(result["selection"]["members"]) == 2 and result["selection"]["method"] == "qubo"
    assert 0.8 < result["test_accuracy"]["selected"] <= 1.0
    assert sum(1 for _, e in events if e.get("event") == "done") == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"y": [0, 1, 0, 1, 0]}, "y: 5 labels for 4 samples"),
        ({"y": [0, 0, 0, 0]}, "two classes"),
        ({"x": [[1.0], [2.0, 1.0], [3.0], [4.0]]}, "x:"),
        ({"x_test": [[1.0]]}, "x_test, y_test"),
        ({"select_k": 3, "members": 2}, "select_k"),
    ],
)
def test_ensemble_training_refuses_bad_data_at_submission(client, change, field):
    good = {"x": [[1.0], [2.0], [3.0], [4.0]], "y": [0, 1, 0, 1]}
    with pytest.raises(ServiceCallError) as info:
        client.submit("ensemble_training", {**good, **change})
    assert info.value.status == 422 and field in info.value.problem["detail"]
