"""Realistic synthetic jobs, clusters and telemetry from documented figures.

No public GPU power trace ships in a package, so qenergy generates them. Every constant below
is in ``GPU_SPECS`` / ``POWER_MODEL`` and documented with its source in docs/qenergy.md:

- board power limits from NVIDIA's datasheets: H100 SXM5 up to 700 W, A100 SXM4 400 W,
  (H100 PCIe 350 W, A100 PCIe 300 W);
- idle draw 60-90 W for SXM boards (the DGX H100 BMC example reads 64 W at a 700 W set point;
  nvidia-smi on idle A100/H100 SXM typically shows 50-90 W);
- utilisation-to-power: board power rises roughly linearly with SM activity from idle to the
  limit, slightly concave (``p = idle + (tdp - idle) * u ** 0.85``);
- the power-capping trade-off (instance.py): capped run time grows by
  ``(dyn / dyn_capped) ** 0.25``, which at a cap of 85 % of the draw gives ~4 % more time for
  ~11 % less energy, and at 70 % ~10 % more time for ~23 % less, in the range reported by the
  MIT Lincoln Laboratory power-capping study (12-15 % energy saved for ~3 % time);
- a shared power domain (rack/PDU) couples jobs: each GPU draws ``RACK_COUPLING`` x (rack
  utilisation - 0.5) more, a stand-in for inlet temperature and leakage. This is an assumption
  of the generator (stated as such), and it is the signal a graph model can see and a per-job
  table cannot.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from qenergy.cluster import Cluster
from qenergy.errors import InvalidParameter

__all__ = [
    "GPU_SPECS",
    "POWER_MODEL",
    "generate_instance",
    "generate_jobs",
    "generate_nvidia_smi_csv",
    "generate_snapshots",
    "gpu_power",
]

GPU_SPECS: dict[str, dict[str, float]] = {
    "H100-SXM": {"tdp_w": 700.0, "idle_lo_w": 65.0, "idle_hi_w": 90.0},
    "A100-SXM": {"tdp_w": 400.0, "idle_lo_w": 50.0, "idle_hi_w": 65.0},
    "H100-PCIe": {"tdp_w": 350.0, "idle_lo_w": 45.0, "idle_hi_w": 60.0},
    "A100-PCIe": {"tdp_w": 300.0, "idle_lo_w": 35.0, "idle_hi_w": 50.0},
}
POWER_MODEL = {"curve_exponent": 0.85, "noise_sd": 0.03, "rack_coupling": 0.08}
PRECISIONS = {"fp32": 0.85, "bf16": 1.0, "fp8": 1.06}


def _check_int(value: object, name: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise InvalidParameter(f"{name}: {value!r}; give a whole number >= {lo}.")
    return int(value)


def utilisation(frame: pd.DataFrame) -> np.ndarray:
    """SM utilisation in [0.1, 1] from the job features (a saturating curve in tokens per step,
    higher for training and larger models)."""
    tokens = frame["batch_size"].to_numpy(float) * frame["seq_len"].to_numpy(float)
    sat = 1.0 - np.exp(-tokens / 32768.0)
    size = np.log10(frame["model_params_b"].to_numpy(float) * 10.0) / 3.0  # 0.1 B -> 0, 100 B -> 1
    train = (frame["kind"].to_numpy() == "train").astype(float)
    u = 0.18 + 0.55 * sat + 0.12 * train + 0.15 * size
    return np.clip(u, 0.1, 1.0)


def gpu_power(gpu_type: np.ndarray, util: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Mean per-GPU board power (W) without noise or coupling."""
    tdp = np.array([GPU_SPECS[t]["tdp_w"] for t in gpu_type])
    idle = np.array([(GPU_SPECS[t]["idle_lo_w"] + GPU_SPECS[t]["idle_hi_w"]) / 2 for t in gpu_type])
    scale = np.array([PRECISIONS[p] for p in precision])
    return np.minimum(tdp, idle + (tdp - idle) * util ** POWER_MODEL["curve_exponent"] * scale)


def generate_jobs(
    n: int, seed: int = 0, gpu_types: tuple[str, ...] = ("H100-SXM",)
) -> pd.DataFrame:
    """``n`` jobs with features, durations and per-job power (no times yet)."""
    n = _check_int(n, "n", 1)
    for t in gpu_types:
        if t not in GPU_SPECS:
            raise InvalidParameter(f"gpu_types: unknown {t!r}; known: {', '.join(GPU_SPECS)}.")
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "job_id": [f"j{i:04d}" for i in range(n)],
            "gpus": rng.choice([1, 2, 4, 8], size=n, p=[0.3, 0.3, 0.25, 0.15]),
            "gpu_type": rng.choice(list(gpu_types), size=n),
            "kind": rng.choice(["train", "finetune", "infer"], size=n, p=[0.4, 0.3, 0.3]),
            "model_params_b": np.round(np.exp(rng.uniform(np.log(0.1), np.log(70.0), size=n)), 2),
            "batch_size": rng.choice([1, 4, 8, 16, 32, 64, 128], size=n),
            "seq_len": rng.choice([512, 1024, 2048, 4096, 8192], size=n),
            "precision": rng.choice(list(PRECISIONS), size=n, p=[0.15, 0.6, 0.25]),
        }
    )
    util = utilisation(frame)
    per_gpu = gpu_power(frame["gpu_type"].to_numpy(), util, frame["precision"].to_numpy())
    per_gpu *= np.exp(rng.normal(0.0, POWER_MODEL["noise_sd"], size=n))
    tdp = np.array([GPU_SPECS[t]["tdp_w"] for t in frame["gpu_type"]])
    frame["util_pct"] = np.round(util * 100, 1)
    frame["power_w"] = np.round(np.minimum(per_gpu, tdp) * frame["gpus"], 1)
    # durations: log-normal, median 1 h, clipped to 10 min .. 12 h (typical batch-queue jobs)
    frame["duration_s"] = np.clip(
        np.round(np.exp(rng.normal(np.log(3600), 0.8, size=n))), 600, 43200
    )
    return frame


def generate_instance(
    n_jobs: int,
    seed: int = 0,
    gpus: int | None = None,
    budget_fraction: float = 0.55,
    gpu_load: float = 0.7,
    gpu_type: str = "H100-SXM",
) -> tuple[pd.DataFrame, Cluster]:
    """A job table with submit times and deadlines, and a cluster with a binding power budget.

    ``gpus`` defaults to 8 per 10 jobs (at least 16); jobs arrive uniformly over a horizon that
    makes the offered GPU load ``gpu_load``; the budget is idle + ``budget_fraction`` of the
    dynamic range of all GPUs. Deadlines are ``submit + U(1.5, 4) x duration``, extended where
    needed to the end time of a witness schedule (first-come first-served under the GPUs and
    the budget), so every generated instance is feasible.
    """
    from qenergy.heuristics import PRIORITY_RULES, serial_schedule
    from qenergy.instance import build_instance

    n_jobs = _check_int(n_jobs, "n_jobs", 1)
    if not (isinstance(budget_fraction, int | float) and 0 < budget_fraction <= 1):
        raise InvalidParameter(f"budget_fraction: {budget_fraction!r}; use a number in (0, 1].")
    if not (isinstance(gpu_load, int | float) and 0 < gpu_load <= 5):
        raise InvalidParameter(f"gpu_load: {gpu_load!r}; use a number in (0, 5].")
    rng = np.random.default_rng([seed, 1])
    jobs = generate_jobs(n_jobs, seed=seed, gpu_types=(gpu_type,))
    total = gpus if gpus is not None else max(16, 8 * math.ceil(n_jobs / 10))
    _check_int(total, "gpus", 1)
    spec = GPU_SPECS[gpu_type]
    idle = (spec["idle_lo_w"] + spec["idle_hi_w"]) / 2
    budget = idle * total + budget_fraction * (spec["tdp_w"] - idle) * total
    cluster = Cluster(gpus=total, power_budget_w=round(budget), idle_w_per_gpu=idle)
    # a job's power must fit the budget alone; shrink the odd 8-GPU giant on a small cluster
    jobs["gpus"] = np.minimum(jobs["gpus"], total)
    per_gpu = jobs["power_w"] / jobs["gpus"].where(jobs["gpus"] > 0, 1)
    jobs["power_w"] = np.round(np.minimum(jobs["power_w"], per_gpu * jobs["gpus"]), 1)
    horizon = float((jobs["gpus"] * jobs["duration_s"]).sum()) / (gpu_load * total)
    jobs["submit_s"] = np.sort(np.round(rng.uniform(0, horizon, size=n_jobs)))
    slack = rng.uniform(1.5, 4.0, size=n_jobs)
    jobs["deadline_s"] = 1e12  # no deadline for the witness
    inst = build_instance(jobs, cluster)
    witness = serial_schedule(inst, PRIORITY_RULES["fcfs"](inst), "earliest", "energy")
    assert witness is not None  # no deadlines and every job fits alone: FCFS always places
    ends = witness.start + np.array([o[0].duration for o in inst.options])
    jobs["deadline_s"] = np.maximum(np.round(jobs["submit_s"] + slack * jobs["duration_s"]), ends)
    cols = ["job_id", "gpus", "duration_s", "submit_s", "deadline_s", "power_w"]
    return jobs[cols + [c for c in jobs.columns if c not in cols]], cluster


def generate_snapshots(
    n_graphs: int, seed: int = 0, racks: int = 4, nodes_per_rack: int = 4, gpus_per_node: int = 8
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cluster snapshots for the predictors: jobs placed on nodes, racks as power domains.

    Returns (jobs, nodes). ``jobs``: graph, job_id, node, rack, gpu_type, features, util_pct,
    power_w (the job's total, with the rack coupling and noise). ``nodes``: graph, node, rack,
    gpu_type, busy_gpus, power_w (all 8 boards, idle ones included).
    """
    n_graphs = _check_int(n_graphs, "n_graphs", 1)
    rng = np.random.default_rng(seed)
    job_rows, node_rows = [], []
    types = list(GPU_SPECS)[:2]
    for gidx in range(n_graphs):
        rack_type = rng.choice(types, size=racks)
        placed: list[dict] = []
        node_free = {}
        for r in range(racks):
            for k in range(nodes_per_rack):
                node_free[(r, r * nodes_per_rack + k)] = gpus_per_node
        count = int(rng.integers(racks * nodes_per_rack, racks * nodes_per_rack * 3))
        base = generate_jobs(count, seed=int(rng.integers(2**31)))
        for _, job in base.iterrows():
            fits = [key for key, free in node_free.items() if free >= job["gpus"]]
            if not fits:
                continue
            key = fits[int(rng.integers(len(fits)))]
            node_free[key] -= int(job["gpus"])
            placed.append(
                {**job.to_dict(), "rack": key[0], "node": key[1], "gpu_type": rack_type[key[0]]}
            )
        frame = pd.DataFrame(placed)
        util = utilisation(frame)
        per_gpu = gpu_power(frame["gpu_type"].to_numpy(), util, frame["precision"].to_numpy())
        # rack utilisation: busy-GPU-weighted utilisation over all GPUs of the rack
        rack_gpus = nodes_per_rack * gpus_per_node
        rack_util = np.zeros(racks)
        np.add.at(
            rack_util, frame["rack"].to_numpy(int), util * frame["gpus"].to_numpy(float) / rack_gpus
        )
        coupling = (
            1.0 + POWER_MODEL["rack_coupling"] * (rack_util[frame["rack"].to_numpy(int)] - 0.5) * 2
        )
        per_gpu = (
            per_gpu * coupling * np.exp(rng.normal(0.0, POWER_MODEL["noise_sd"], size=len(frame)))
        )
        tdp = np.array([GPU_SPECS[t]["tdp_w"] for t in frame["gpu_type"]])
        frame["util_pct"] = np.round(util * 100, 1)
        frame["power_w"] = np.round(np.minimum(per_gpu, tdp) * frame["gpus"], 1)
        frame["graph"] = gidx
        frame["job_id"] = [f"g{gidx}-{j}" for j in frame["job_id"]]
        job_rows.append(frame)
        for (r, node), free in node_free.items():
            t = rack_type[r]
            idle = (GPU_SPECS[t]["idle_lo_w"] + GPU_SPECS[t]["idle_hi_w"]) / 2
            on = frame[frame["node"] == node]
            node_rows.append(
                {
                    "graph": gidx,
                    "node": node,
                    "rack": r,
                    "gpu_type": t,
                    "busy_gpus": gpus_per_node - free,
                    "power_w": float(on["power_w"].sum()) + idle * free,
                }
            )
    jobs = pd.concat(job_rows, ignore_index=True).drop(columns=["duration_s"])
    return jobs, pd.DataFrame(node_rows)


def generate_nvidia_smi_csv(
    power_w: np.ndarray,
    util_pct: np.ndarray,
    start: str = "2024/01/15 10:00:00",
    interval_s: float = 1.0,
    seed: int = 0,
) -> str:
    """Text exactly as ``nvidia-smi --query-gpu=timestamp,index,power.draw,utilization.gpu
    --format=csv -l`` writes it, one block of rows per interval, for GPUs with the given mean
    power and utilisation (1 % noise per sample)."""
    rng = np.random.default_rng(seed)
    power_w, util_pct = np.atleast_2d(power_w), np.atleast_2d(util_pct)
    t0 = pd.Timestamp(pd.to_datetime(start, format="%Y/%m/%d %H:%M:%S"))
    lines = ["timestamp, index, power.draw [W], utilization.gpu [%]"]
    for step in range(power_w.shape[0]):
        stamp = (t0 + pd.Timedelta(seconds=step * interval_s)).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
        for gpu in range(power_w.shape[1]):
            p = power_w[step, gpu] * (1 + rng.normal(0, 0.01))
            u = int(np.clip(round(util_pct[step, gpu]), 0, 100))
            lines.append(f"{stamp}, {gpu}, {p:.2f} W, {u} %")
    return "\n".join(lines) + "\n"
