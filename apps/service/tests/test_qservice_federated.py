"""A federated run as a job (qflower, tiny model): its rounds stream as events, its checkpoint
becomes a model version (exported to ONNX by a job), and the model classifies texts in the
model-serving process, also at int8 through qcompress."""

from __future__ import annotations

import math

import pytest

from qservice import ServiceCallError

TINY = {
    "model": "tiny",
    "num-clients": 3,
    "clients-per-round": 3,
    "rounds": 2,
    "max-examples-per-client": 48,
    "max-test-examples": 64,
    "max-length": 24,
    "batch-size": 16,
    "partition": "iid",
}


@pytest.mark.slow  # about 1 minute unloaded (torch, the data set, two rounds), 4 on a busy box
def test_federated_run_streams_rounds_then_serves_its_model(client):
    response = client.http.post("/v1/federated/runs", json={"config": TINY})
    assert response.status_code == 202, response.text
    job = response.json()
    rounds = [e for e in client.events(job["id"], timeout=600) if e["type"] == "round"]
    done = client.job(job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert [r["round"] for r in rounds][-2:] == [1, 2]
    for row in rounds:
        assert row["accuracy"] is None or 0.0 <= row["accuracy"] <= 1.0
    last = rounds[-1]
    assert last["epsilon_max"] is not None and 0 < last["epsilon_max"] <= 8.0 + 1e-6
    assert done["result"]["final"]["round"] == 2

    model = client.register_model("tweets", job["id"])  # waits for the ONNX export job
    assert model["version"] == 1 and len(model["info"]["labels"]) == 3
    assert model["export"]["max_abs_logit_diff"] <= 1e-4
    texts = ["what a lovely day", "this is awful", "the bus leaves at nine"]
    out = client.predict("tweets", texts)
    assert out["version"] == 1 and len(out["predictions"]) == 3
    for prediction in out["predictions"]:
        assert prediction["label"] in model["info"]["labels"]
        assert math.isclose(sum(prediction["probabilities"].values()), 1.0, rel_tol=1e-5)
    low = client.predict("tweets", texts, precision="int8")
    assert low["precision"] == "int8"
    for a, b in zip(out["predictions"], low["predictions"], strict=True):
        for label, p in a["probabilities"].items():
            assert b["probabilities"][label] == pytest.approx(p, abs=0.05)


def test_bad_federated_config_and_unknown_model_are_refused(client):
    with pytest.raises(ServiceCallError) as info:
        client.request("POST", "/v1/federated/runs", json={"config": {"num-rounds": 3}})
    assert info.value.status == 422 and "num-rounds" in info.value.problem["detail"]
    with pytest.raises(ServiceCallError) as info:
        client.request("POST", "/v1/federated/runs", json={"config": {"output-dir": "/etc"}})
    assert info.value.status == 422 and "output-dir" in info.value.problem["detail"]
    with pytest.raises(ServiceCallError) as info:
        client.predict("nobody", ["hello"])
    assert info.value.status == 404
