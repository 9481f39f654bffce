"""Simulated bifurcation on CUDA against the CPU on a G-set instance (issue 12's device check).

Two measurements, both in one run on the same machine:

1. Speed at equal work: the same number of steps and agents on numpy (one CPU core, scipy
   sparse products, qcore's default CPU path), torch on all CPU cores, and torch on CUDA.
   Reported as agent-steps per second and as the ratio CUDA / numpy.
2. Quality at a wall-clock budget: the best cut CUDA reaches in ``--budget`` seconds with many
   agents (restarting with a new seed while time is left), beside numpy's at the same budget.

    uv run python tools/bench_sb_device.py ../shared/data/gset/G55.txt --json sb_device.json

Without CUDA the CUDA rows are skipped and said so.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import qcore
from qcore.entrypoint import CliParser, entry_point
from qcore.errors import QcoreError
from qcore.io import read_gset


def run_sb(bqm, *, agents: int, steps: int, backend: str, device: str, seed: int) -> dict:
    sampler = qcore.get_solver("sb")
    start = time.perf_counter()
    ss = sampler.sample(
        bqm,
        agents=agents,
        max_steps=steps,
        patience=10**9,  # equal work: no early stop
        backend=backend,
        device=device,
        seed=seed,
    )
    wall = time.perf_counter() - start
    return {"wall_s": wall, "energy": float(ss.first.energy), "steps": ss.info["steps"]}


def best_within(bqm, budget: float, *, agents: int, steps: int, backend: str, device: str):
    """Restart SB with fresh seeds until ``budget`` seconds are spent; best energy and runs."""
    start, best, runs, seed = time.perf_counter(), float("inf"), 0, 0
    while time.perf_counter() - start < budget:
        left = budget - (time.perf_counter() - start)
        ss = qcore.get_solver("sb").sample(
            bqm,
            agents=agents,
            max_steps=steps,
            backend=backend,
            device=device,
            seed=seed,
            time_limit=max(left, 0.05),
        )
        best = min(best, float(ss.first.energy))
        runs, seed = runs + 1, seed + 1
    return best, runs


@entry_point("bench_sb_device", user_errors=(QcoreError,))
def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="bench_sb_device", description=__doc__.splitlines()[0])
    parser.add_argument("instance", type=Path, help="a G-set file, e.g. G55.txt")
    parser.add_argument("--agents", type=int, nargs="+", default=[128, 1024, 8192])
    parser.add_argument("--steps", type=int, default=500, help="steps per speed measurement")
    parser.add_argument("--cpu-max-agents", type=int, default=1024, help="skip slower CPU rows")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds for the quality run")
    parser.add_argument("--budget-agents", type=int, default=4096)
    parser.add_argument("--budget-steps", type=int, default=5000)
    parser.add_argument("--json", type=Path, help="write every row here")
    args = parser.parse_args(argv)

    import torch

    cuda = torch.cuda.is_available()
    instance = read_gset(args.instance)
    bqm = instance.bqm
    out: dict = {
        "instance": instance.name,
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "speed": [],
        "quality": [],
    }
    print(f"{instance.name}: n={instance.n} m={instance.m}; CUDA: {out['gpu'] or 'none'}")
    if cuda:  # warm up the CUDA context and kernels outside the timings
        run_sb(bqm, agents=64, steps=20, backend="torch", device="cuda", seed=0)
    print("| agents | numpy 1 core (agent-steps/s) | torch CPU | torch CUDA | CUDA / numpy |")
    print("|---:|---:|---:|---:|---:|")
    for agents in args.agents:
        row: dict = {"agents": agents, "steps": args.steps}
        paths = [("numpy", "numpy", "cpu"), ("torch_cpu", "torch", "cpu")]
        if cuda:
            paths.append(("torch_cuda", "torch", "cuda"))
        for key, backend, device in paths:
            if device == "cpu" and agents > args.cpu_max_agents:
                continue
            r = run_sb(bqm, agents=agents, steps=args.steps, backend=backend, device=device, seed=1)
            r["rate"] = agents * r["steps"] / r["wall_s"]
            row[key] = r
        out["speed"].append(row)

        def rate(key: str, row: dict = row) -> str:
            return f"{row[key]['rate']:.3g}" if key in row else "-"

        ratio = (
            f"{row['torch_cuda']['rate'] / row['numpy']['rate']:.1f}x"
            if "torch_cuda" in row and "numpy" in row
            else "-"
        )
        print(
            f"| {agents} | {rate('numpy')} | {rate('torch_cpu')} | {rate('torch_cuda')} | "
            f"{ratio} |",
            flush=True,
        )

    print(f"\nbest cut within {args.budget:g} s (best-known cuts: the G-set README)")
    print("| path | agents | steps per run | runs | best cut |")
    print("|---|---:|---:|---:|---:|")
    quality = [("numpy", "cpu", 128)]
    if cuda:
        quality += [("torch", "cuda", args.budget_agents)]
    for backend, device, agents in quality:
        energy, runs = best_within(
            bqm,
            args.budget,
            agents=agents,
            steps=args.budget_steps,
            backend=backend,
            device=device,
        )
        cut = instance.cut_from_energy(energy)
        out["quality"].append(
            {"backend": backend, "device": device, "agents": agents, "runs": runs, "cut": cut}
        )
        print(f"| {backend} {device} | {agents} | {args.budget_steps} | {runs} | {cut:g} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
