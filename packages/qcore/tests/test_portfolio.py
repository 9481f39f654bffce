"""auto's work-count budget: reproducible answers, members alone = members inside, SB restarts."""

import networkx as nx
import numpy as np
import pytest

import qcore
import qcore.problems
from qcore.errors import InvalidProblem
from qcore.planted import wishart
from qcore.solvers import portfolio
from qcore.testing import random_bqm


def _state(result):
    return [result.sample[v] for v in sorted(result.sample)]


def test_auto_with_a_seed_gives_the_same_answer_run_to_run():
    inst = wishart(60, 0.75, seed=2)
    runs = [qcore.solve(inst.bqm, "auto", seed=7, time_limit=0.5) for _ in range(2)]
    assert runs[0].energy == runs[1].energy
    assert _state(runs[0]) == _state(runs[1])
    info = runs[0].sampleset.info
    assert info["deterministic"]
    a, b = (r.sampleset.info["members"] for r in runs)
    for name in a:  # the same work, whatever the clock did
        assert {k: v for k, v in a[name].items() if k != "wall_s"} == {
            k: v for k, v in b[name].items() if k != "wall_s"
        }


def test_a_member_alone_is_the_same_run_as_inside_auto():
    bqm = random_bqm(50, "SPIN", seed=3, density=0.3)
    together = qcore.solve(bqm, "auto", seed=11, time_limit=0.5, members=("tabu", "pt"))
    for name in ("tabu", "pt"):
        alone = qcore.solve(bqm, "auto", seed=11, time_limit=0.5, members=(name,), workers=1)
        inside = together.sampleset.info["members"][name]
        assert alone.sampleset.info["members"][name]["energy"] == inside["energy"]
        assert together.energy <= alone.energy  # so auto never ends worse than a member


def test_sb_member_restarts_after_an_early_stop_until_its_steps_are_spent(monkeypatch):
    monkeypatch.setattr(portfolio, "SB_RUN_STEPS", 300)
    bqm = random_bqm(40, "SPIN", seed=5, density=0.5)
    out = portfolio.work_sb(bqm, 0.5, seed=1)
    detail = out["detail"]
    total = portfolio.work_units("sb", bqm, 0.5)
    assert total > 2 * portfolio.SB_RUN_STEPS
    assert detail["runs"] >= 3
    # early stops end a run, never the share: every step of the count is used
    assert total - 100 < detail["steps"] <= total


def test_work_units_scale_with_the_budget_and_the_model():
    small = random_bqm(50, "SPIN", seed=1, density=0.1)
    large = random_bqm(400, "SPIN", seed=1, density=0.1)
    for name in portfolio.MEMBERS:
        assert (
            portfolio.work_units(name, small, 2.0) >= 2 * portfolio.work_units(name, small, 1.0) - 1
        )
        assert portfolio.work_units(name, large, 1.0) < portfolio.work_units(name, small, 1.0)


def test_growing_runs_sum_to_the_total():
    for total in (100, 1234, 10**6, 5 * 10**7):
        lengths = portfolio._growing(total, 100, 10_000_000)
        assert sum(lengths) <= total and total - sum(lengths) < 100
        assert max(lengths) <= 10_000_000


def test_members_by_class():
    colouring = qcore.problems.graph_coloring(nx.random_regular_graph(3, 20, seed=7), 3).bqm
    assert portfolio.choose_members(colouring, 2) == ("tabu", "sa")
    assert portfolio.choose_members(wishart(40, 0.5, seed=0).bqm, 2) == ("tabu", "pt")
    ring = qcore.problems.maxcut(nx.random_regular_graph(3, 100, seed=1)).bqm
    assert portfolio.choose_members(ring, 2) == ("sa", "pt")
    assert portfolio.choose_members(ring, 1) == ("sa",)


def test_work_scale_is_checked_and_scales_work():
    bqm = random_bqm(40, "SPIN", seed=2, density=0.3)
    with pytest.raises(InvalidProblem, match="work_scale"):
        qcore.solve(bqm, "auto", time_limit=0.2, work_scale=0)
    one = qcore.solve(bqm, "auto", seed=1, time_limit=0.2, members=("pt",), work_scale=1.0)
    two = qcore.solve(bqm, "auto", seed=1, time_limit=0.2, members=("pt",), work_scale=2.0)
    sweeps = [r.sampleset.info["members"]["pt"]["sweeps"] for r in (one, two)]
    assert sweeps[1] == pytest.approx(2 * sweeps[0], rel=0.01)


def test_member_seeds_differ_by_name_and_occurrence():
    seeds = {portfolio.member_seed(3, m, k) for m in portfolio.MEMBERS for k in range(2)}
    assert len(seeds) == 2 * len(portfolio.MEMBERS)
    assert all(0 <= s < 2**31 - 1 for s in seeds)
    assert np.issubdtype(type(portfolio.member_seed(None, "sa", 0)), np.integer) or isinstance(
        portfolio.member_seed(None, "sa", 0), int
    )
