"""Chance-constrained scheduling: keep the peak under the budget with a chosen probability.

Each job's power is replaced by its one-sided conformal upper bound at ``probability`` (from a
calibrated predictor), the schedule is made with those powers, and a Monte Carlo check draws
every job's per-GPU error from the calibration residuals (independently) to estimate how often
the real peak stays under the budget. A sum of per-job upper quantiles is conservative for
independent errors, so the estimate is usually above ``probability``; the report says by how
much, and also for a schedule made from point predictions, so the price of the guarantee
(peak or energy) is visible.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qenergy.cluster import Cluster
from qenergy.errors import InvalidParameter
from qenergy.predict import ConformalPredictor
from qenergy.result import ScheduleResult
from qenergy.schedule import schedule

__all__ = ["budget_probability", "schedule_chance_constrained"]


def budget_probability(
    result: ScheduleResult,
    jobs: pd.DataFrame,
    predictor: ConformalPredictor,
    cluster: Cluster,
    samples: int = 500,
    seed: int = 0,
) -> float:
    """Estimated P(peak <= budget) when jobs draw point prediction + a calibration residual."""
    frame = result.to_frame().set_index("job_id").loc[jobs["job_id"]].reset_index()
    rng = np.random.default_rng(seed)
    g = jobs["gpus"].to_numpy(float)
    point = predictor.model.predict_per_gpu(jobs)  # type: ignore[attr-defined]
    per_gpu = point[None, :] + predictor.sample_errors((samples, len(jobs)), rng)
    power = np.maximum(per_gpu, cluster.idle_w_per_gpu) * g
    caps = frame["cap_w"].to_numpy(float)
    capped = ~np.isnan(caps)
    power[:, capped] = np.minimum(power[:, capped], caps[capped] * g[capped])
    # power is flat between events; the peak is at some start time
    starts, ends = frame["start_s"].to_numpy(float), frame["end_s"].to_numpy(float)
    active = (starts[None, :] <= starts[:, None]) & (
        ends[None, :] > starts[:, None]
    )  # events x jobs
    dyn = power - cluster.idle_w_per_gpu * g
    peaks = cluster.idle_power_w + (active.astype(float) @ dyn.T).max(axis=0)
    return float(np.mean(peaks <= cluster.power_budget_w + 1e-9))


def schedule_chance_constrained(
    jobs: pd.DataFrame,
    cluster: Cluster,
    predictor: ConformalPredictor,
    probability: float = 0.95,
    samples: int = 500,
    seed: int = 0,
    **kwargs: object,
) -> tuple[ScheduleResult, dict[str, float]]:
    """Schedule with every job at its ``probability`` upper bound; report the estimated
    probability that the peak stays under the budget, next to the point-prediction schedule's."""
    if (
        isinstance(probability, bool)
        or not isinstance(probability, float | int)
        or not 0.5 <= probability < 1
    ):
        raise InvalidParameter(
            f"probability: {probability!r}; use a number in [0.5, 1), e.g. 0.95."
        )
    if kwargs.get("caps"):
        raise InvalidParameter(
            "caps: the chance-constrained mode schedules uncapped jobs; drop caps."
        )
    upper = jobs.copy()
    upper["power_w"] = predictor.upper(jobs, float(probability))
    point = jobs.copy()
    point["power_w"] = predictor.model.predict(jobs)  # type: ignore[attr-defined]
    robust = schedule(upper, cluster, seed=seed, **kwargs)  # type: ignore[arg-type]
    nominal = schedule(point, cluster, seed=seed, **kwargs)  # type: ignore[arg-type]
    report = {
        "target_probability": float(probability),
        "estimated_probability": budget_probability(
            robust, jobs, predictor, cluster, samples, seed
        ),
        "point_schedule_probability": budget_probability(
            nominal, jobs, predictor, cluster, samples, seed
        ),
        "robust_planned_peak_w": robust.peak_w,
        "point_planned_peak_w": nominal.peak_w,
        "robust_makespan_s": robust.makespan_s,
        "point_makespan_s": nominal.makespan_s,
    }
    robust.info.update({k: v for k, v in report.items()})
    return robust, report
