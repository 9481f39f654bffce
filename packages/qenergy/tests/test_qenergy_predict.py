"""Predictors on generated snapshots: errors, conformal coverage, filling power into a table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qenergy import InvalidParameter, MissingColumn, generate_snapshots
from qenergy.predict import ConformalPredictor, GradientBoostingPower, LinearPower, fill_power, mape


@pytest.fixture(scope="module")
def split() -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    jobs, nodes = generate_snapshots(30, seed=5)
    g = jobs["graph"].to_numpy()
    parts = {"train": g < 18, "cal": (g >= 18) & (g < 24), "test": g >= 24}
    out = {}
    for name, mask in parts.items():
        graphs = np.unique(g[mask])
        out[name] = (
            jobs[mask].reset_index(drop=True),
            nodes[nodes["graph"].isin(graphs)].reset_index(drop=True),
        )
    return out


@pytest.fixture(scope="module")
def fitted(split) -> dict[str, object]:
    train = split["train"][0]
    return {
        "linear": LinearPower(seed=0).fit(train),
        "gbm": GradientBoostingPower(seed=0).fit(train),
    }


@pytest.mark.parametrize("name", ["linear", "gbm"])
def test_tabular_models_predict_and_cover(split, fitted, name: str) -> None:
    model = fitted[name]
    conformal = ConformalPredictor(model, alpha=0.1).calibrate(split["cal"][0])
    test = split["test"][0]
    pred, lo, hi = conformal.interval(test)
    y = test["power_w"].to_numpy()
    assert mape(y, pred) < 12.0  # the generator's noise alone is ~2.4 % MAPE
    coverage = np.mean((y >= lo) & (y <= hi))
    assert coverage >= 0.8  # nominal 0.9; finite-sample slack
    assert np.all(lo <= pred) and np.all(pred <= hi)


def test_gbm_beats_linear(split, fitted) -> None:
    test = split["test"][0]
    y = test["power_w"].to_numpy()
    lin = mape(y, fitted["linear"].predict(test))
    gbm = mape(y, fitted["gbm"].predict(test))
    assert gbm < lin


def test_one_sided_upper_bound(split) -> None:
    model = LinearPower().fit(split["train"][0])
    conformal = ConformalPredictor(model).calibrate(split["cal"][0])
    test = split["test"][0]
    upper = conformal.upper(test, 0.9)
    assert np.mean(test["power_w"].to_numpy() <= upper) >= 0.8


def test_fill_power_only_where_missing(split) -> None:
    model = LinearPower().fit(split["train"][0])
    table = split["test"][0].head(6).copy()
    table.loc[table.index[:3], "power_w"] = np.nan
    filled = fill_power(table, model)
    assert filled["power_w"].notna().all()
    assert filled["power_w"].iloc[3:].tolist() == table["power_w"].iloc[3:].tolist()
    assert filled["power_source"].tolist() == ["predicted"] * 3 + ["given"] * 3


def test_bad_inputs(split) -> None:
    train = split["train"][0]
    with pytest.raises(MissingColumn, match="batch_size"):
        LinearPower().fit(train.drop(columns=["batch_size"]))
    bad = train.copy()
    bad.loc[bad.index[0], "seq_len"] = -4
    with pytest.raises(InvalidParameter, match="seq_len"):
        LinearPower().fit(bad)
    with pytest.raises(InvalidParameter, match="alpha"):
        ConformalPredictor(LinearPower(), alpha=1.5)
    with pytest.raises(InvalidParameter, match="calibrate"):
        ConformalPredictor(LinearPower().fit(train)).interval(train)


@pytest.mark.slow  # importing torch-geometric alone costs ~13 s of CPU
def test_graphsage_graph_has_placement_and_power_domain_edges(split) -> None:
    """The graph: one vertex per job and node; job-node edges both ways; node-node in a rack."""
    pytest.importorskip("torch_geometric")
    from qenergy.gnn import GraphSAGEPower

    jobs, nodes = split["test"]
    model = GraphSAGEPower(hidden=8, epochs=2, seed=0).fit(jobs, nodes)
    graphs = model._graphs(jobs, nodes)
    first = jobs["graph"].min()
    nj = int((jobs["graph"] == first).sum())
    node_frame = nodes[nodes["graph"] == first]
    g = graphs[0]
    assert g.num_nodes == nj + len(node_frame)
    racks = node_frame.groupby("rack").size()
    assert g.edge_index.shape[1] == 2 * nj + int((racks * (racks - 1)).sum())
    assert model.predict_per_gpu(jobs, nodes).shape == (len(jobs),)


@pytest.mark.slow
def test_graphsage_trains_and_predicts_jobs_and_nodes(split) -> None:
    pytest.importorskip("torch_geometric")
    from qenergy.gnn import GraphSAGEPower

    model = GraphSAGEPower(hidden=16, epochs=40, seed=0).fit(*split["train"])
    model.calibrate(*split["cal"])
    jobs, nodes = split["test"]
    pred, lo, hi = model.interval(jobs, nodes, alpha=0.1)
    y = jobs["power_w"].to_numpy()
    assert pred.shape == y.shape and np.all(lo <= hi)
    assert mape(y, pred) < 30.0  # a short training run; the benchmark trains it fully
    assert np.mean((y >= lo) & (y <= hi)) >= 0.75
    node_pred = model.predict_nodes(jobs, nodes)
    assert node_pred.shape == (len(nodes),)
    assert mape(nodes.sort_values("graph", kind="stable")["power_w"].to_numpy(), node_pred) < 40.0
