import json
import math

import pytest

from qfed.errors import InvalidConfig
from qfed.privacy import ClientAccountant, noise_for_target, steps_per_epoch


def test_target_epsilon_plan_spends_at_most_the_budget_over_the_planned_rounds():
    acc = ClientAccountant.for_target_epsilon(
        8.0, 1e-5, num_examples=1000, batch_size=50, epochs_per_round=1, rounds=4
    )
    per_round = steps_per_epoch(1000, 50)
    for _ in range(4):
        assert acc.affordable_steps(per_round) == per_round
        acc.record(per_round)
    assert 7.8 < acc.epsilon <= 8.0
    # the budget is spent: the accountant refuses a fifth round
    assert acc.affordable_steps(per_round) < per_round


def test_epsilon_grows_with_rounds_and_survives_json():
    acc = ClientAccountant(noise_multiplier=1.0, sample_rate=0.05, delta=1e-5)
    seen = []
    for _ in range(3):
        acc.record(20)
        acc = ClientAccountant.from_state_dict(json.loads(json.dumps(acc.state_dict())))
        seen.append(acc.epsilon)
    assert seen[0] < seen[1] < seen[2]
    assert acc.steps == 60
    # one accountant over all rounds equals one accountant over all steps at once
    once = ClientAccountant(noise_multiplier=1.0, sample_rate=0.05, delta=1e-5)
    once.record(60)
    assert math.isclose(once.epsilon, acc.epsilon, rel_tol=1e-9)


def test_affordable_steps_bisects_to_the_budget():
    acc = ClientAccountant(noise_multiplier=1.0, sample_rate=0.1, delta=1e-5, epsilon_budget=4.0)
    n = acc.affordable_steps(10_000)
    assert 0 < n < 10_000
    assert acc.epsilon_after(n) <= 4.0 < acc.epsilon_after(n + 1)


def test_more_noise_for_a_smaller_epsilon():
    loose = noise_for_target(8.0, 1e-5, sample_rate=0.02, steps=500)
    tight = noise_for_target(1.0, 1e-5, sample_rate=0.02, steps=500)
    assert tight > loose > 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"noise_multiplier": 0.0}, "noise_multiplier"),
        ({"sample_rate": 1.5}, "sample_rate"),
        ({"delta": 1.0}, "delta"),
        ({"mechanism": "gdp"}, "accountant"),
        ({"epsilon_budget": -1.0}, "epsilon_budget"),
    ],
)
def test_bad_accountant_settings(kwargs, field):
    base = {"noise_multiplier": 1.0, "sample_rate": 0.1, "delta": 1e-5}
    with pytest.raises(InvalidConfig, match=field):
        ClientAccountant(**{**base, **kwargs})


def test_bad_plans():
    with pytest.raises(InvalidConfig, match="epsilon"):
        noise_for_target(0.0, 1e-5, sample_rate=0.1, steps=10)
    with pytest.raises(InvalidConfig, match="batch_size"):
        steps_per_epoch(100, 0)
    with pytest.raises(InvalidConfig, match="not a ClientAccountant state"):
        ClientAccountant.from_state_dict({"history": []})


def test_cached_rdp_composition_matches_opacus_accountant():
    from opacus.accountants import RDPAccountant

    from qfed.client_dp import RDP_ORDERS

    acc = ClientAccountant(noise_multiplier=0.9, sample_rate=0.05, delta=1e-5)
    acc.record(40)
    acc.record(25, noise_multiplier=1.3)
    reference = RDPAccountant()
    reference.history = [(0.9, 0.05, 40), (1.3, 0.05, 25)]
    assert acc.epsilon == pytest.approx(reference.get_epsilon(delta=1e-5, alphas=RDP_ORDERS))
