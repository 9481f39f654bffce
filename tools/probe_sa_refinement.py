"""Does refining SA's best state help on G-set? (the experiment behind a line in benchmarks.md)

Spends half or more of the budget on calibrated SA (qcore's `_run_sa`), then the rest either on
dwave-samplers tabu started from SA's best state (`satabu`) or on repeated low-temperature SA
re-anneals from it (`sareheat`), and prints the cut before and after.

    uv run python tools/probe_sa_refinement.py satabu 28 G14 G22
    uv run python tools/probe_sa_refinement.py sareheat 28 G14 G22
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from dwave.samplers import SimulatedAnnealingSampler, TabuSampler
from qcore.entrypoint import CliParser, entry_point
from qcore.errors import InvalidProblem
from qcore.io import read_gset
from qcore.solvers.portfolio import _run_sa

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gset"


def probe(mode: str, budget: float, names: list[str]) -> None:
    for name in names:
        inst = read_gset(DATA / f"{name}.txt")
        for seed in (0, 1):
            start = time.perf_counter()
            share = 0.6 if mode == "satabu" else 0.5
            best = _run_sa(inst.bqm, share * budget, seed)["sampleset"].truncate(1)
            before = inst.cut_from_energy(best.first.energy)
            if mode == "satabu":
                left = budget - (time.perf_counter() - start)
                best = TabuSampler().sample(
                    inst.bqm, initial_states=best, num_reads=1, timeout=int(left * 1000), seed=seed
                )
            else:
                sampler, k = SimulatedAnnealingSampler(), 0
                while time.perf_counter() - start < 0.95 * budget:
                    ss = sampler.sample(
                        inst.bqm,
                        initial_states=best,
                        initial_states_generator="none",
                        num_reads=1,
                        num_sweeps=20000,
                        beta_range=[1.0, 5.0],
                        seed=seed * 100 + k,
                    )
                    k += 1
                    if ss.first.energy < best.first.energy:
                        best = ss.truncate(1)
            after = inst.cut_from_energy(best.first.energy)
            print(
                f"{name} {mode} seed {seed}: SA {before:.0f} -> {after:.0f} "
                f"in {time.perf_counter() - start:.1f} s",
                flush=True,
            )


@entry_point("probe_sa_refinement")
def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="probe_sa_refinement", description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["satabu", "sareheat"])
    parser.add_argument("budget", type=float, help="seconds per instance and seed")
    parser.add_argument("names", nargs="+", help="G-set instances, e.g. G14 G22")
    args = parser.parse_args(argv)
    if not math.isfinite(args.budget) or args.budget <= 0:
        raise InvalidProblem(f"budget {args.budget}: pass a positive number of seconds.")
    for name in args.names:
        if not (DATA / f"{name}.txt").is_file():
            raise InvalidProblem(f"{name}: {DATA / f'{name}.txt'} does not exist.")
    probe(args.mode, args.budget, args.names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
