import numpy as np
import pytest

from qfed.errors import DataError, InvalidConfig
from qfed.model import LoraSettings, load_model
from qfed.privacy import ClientAccountant
from qfed.training import TrainSettings, evaluate, train_local

TEXTS = [
    f"great smooth flight thanks {i}" if i % 2 else f"awful delay lost bag {i}" for i in range(120)
]
LABELS = np.array([i % 2 for i in range(120)])
SETTINGS = TrainSettings(batch_size=20, learning_rate=0.05)


def _changes(before, after):
    return {k: float(np.abs(after[k] - before[k]).max()) for k in before}


@pytest.mark.parametrize("ffa", [False, True])
def test_dp_sgd_changes_every_lora_tensor(ffa):
    # the Opacus + PEFT trap (opacus#820): hooks on stale parameters leave LoRA untouched
    model = load_model("tiny", num_labels=2, lora=LoraSettings(rank=4, ffa=ffa))
    before = model.trainable_state()
    acc = ClientAccountant.for_target_epsilon(
        8.0, 1e-5, num_examples=120, batch_size=20, epochs_per_round=1, rounds=3
    )
    report = train_local(model, TEXTS, LABELS, SETTINGS, accountant=acc, seed=1)
    assert report.steps > 0 and report.epsilon > 0
    changes = _changes(before, model.trainable_state())
    assert all(v > 0 for v in changes.values()), [k for k, v in changes.items() if v == 0]


def test_accountant_spans_rounds_and_training_stops_at_the_budget():
    model = load_model("tiny", num_labels=2)
    acc = ClientAccountant.for_target_epsilon(
        4.0, 1e-5, num_examples=120, batch_size=20, epochs_per_round=1, rounds=2
    )
    first = train_local(model, TEXTS, LABELS, SETTINGS, accountant=acc, seed=1)
    second = train_local(model, TEXTS, LABELS, SETTINGS, accountant=acc, seed=2)
    assert 0 < first.epsilon < second.epsilon <= 4.0
    assert second.budget_exhausted
    third = train_local(model, TEXTS, LABELS, SETTINGS, accountant=acc, seed=3)
    assert third.steps == 0 and third.num_examples == 0 and third.stopped_early
    assert third.epsilon == pytest.approx(second.epsilon)


def test_partial_round_when_only_part_of_it_fits():
    model = load_model("tiny", num_labels=2)
    acc = ClientAccountant(noise_multiplier=1.0, sample_rate=1 / 6, delta=1e-5, epsilon_budget=1.0)
    fits = acc.affordable_steps(1000)
    report = train_local(
        model, TEXTS, LABELS, TrainSettings(batch_size=20, epochs=50), accountant=acc, seed=0
    )
    assert report.steps == fits and report.stopped_early
    assert report.epsilon <= 1.0


def test_non_private_training_learns_an_easy_task():
    model = load_model("tiny", num_labels=2, lora=LoraSettings(rank=8))
    train_local(model, TEXTS, LABELS, TrainSettings(batch_size=20, learning_rate=0.05, epochs=8))
    report = evaluate(model, TEXTS, LABELS)
    assert report.accuracy > 0.9
    assert report.num_examples == 120 and len(report.per_class_accuracy) == 2


def test_bad_inputs():
    model = load_model("tiny", num_labels=2)
    with pytest.raises(DataError, match="labels"):
        train_local(model, TEXTS[:10], LABELS[:9])
    with pytest.raises(DataError, match=r"labels must be in 0\.\.1"):
        train_local(model, TEXTS[:3], np.array([0, 1, 2]))
    with pytest.raises(DataError, match="no examples"):
        evaluate(model, [], np.array([], dtype=int))
    with pytest.raises(InvalidConfig, match="learning_rate"):
        TrainSettings(learning_rate=0.0)
    wrong = ClientAccountant(noise_multiplier=1.0, sample_rate=0.5, delta=1e-5)
    with pytest.raises(InvalidConfig, match="sample rate"):
        train_local(model, TEXTS, LABELS, SETTINGS, accountant=wrong)


def test_empty_poisson_batches_are_noise_only_steps_and_accounted():
    # a public size far above the real one makes almost every Poisson batch empty: each is
    # still a step (noise only), recorded by the accountant, and the tensors move
    model = load_model("tiny", num_labels=2, lora=LoraSettings(), seed=0)
    before = model.trainable_state()
    acc = ClientAccountant(noise_multiplier=1.0, sample_rate=1 / 500, delta=1e-5)
    settings = TrainSettings(batch_size=8, max_steps=25)
    report = train_local(model, TEXTS[:4], LABELS[:4], settings, accountant=acc, public_size=4000)
    assert report.steps == 25 and acc.steps == 25
    after = model.trainable_state()
    assert all(not np.allclose(before[k], after[k]) for k in before)


def test_public_size_sets_the_rate_not_the_true_size():
    model = load_model("tiny", num_labels=2, lora=LoraSettings(), seed=0)
    acc = ClientAccountant(noise_multiplier=1.0, sample_rate=1 / 5, delta=1e-5)
    with pytest.raises(InvalidConfig, match="public size of 17"):
        train_local(
            model, TEXTS, LABELS, TrainSettings(batch_size=8), accountant=acc, public_size=17
        )
