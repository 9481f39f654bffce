"""Pick the scheduling method per instance: a UCB1 bandit per instance class, record on disk.

An instance's class is (size band, objective, caps or not), from ``Instance.features()``. The
reward of a run is its improvement over the best list heuristic on the same instance (a
fraction; 0.02 = 2 % lower peak or energy) minus ``time_cost`` per second of solve time, so
the chooser learns when the exact model or the QUBO hybrid pays for its time. Untried methods
are tried first; then UCB1 (Auer, Cesa-Bianchi, Fischer 2002) picks the highest
``mean + c sqrt(2 ln N / n)``. The record is a JSON list of runs, written atomically, so it
survives restarts and can be shared between machines.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qenergy.errors import InvalidParameter
from qenergy.instance import Instance

__all__ = ["ARMS", "MethodChooser", "default_record_path"]

ARMS = ("list", "auto", "hybrid")
SIZE_BANDS = (30, 100, 300)


def default_record_path() -> Path:
    """``$QENERGY_CHOOSER_RECORD``, else ``~/.cache/qenergy/chooser.json``."""
    env = os.environ.get("QENERGY_CHOOSER_RECORD")
    return Path(env) if env else Path.home() / ".cache" / "qenergy" / "chooser.json"


def instance_class(inst: Instance, objective: str) -> str:
    f = inst.features()
    band = sum(f["n_jobs"] > b for b in SIZE_BANDS)
    return f"size{band}/{objective}/{'caps' if f['caps'] else 'nocaps'}"


def _valid_run(run: object) -> bool:
    if not isinstance(run, dict):
        return False
    reward = run.get("reward")
    return (
        isinstance(run.get("cls"), str)
        and isinstance(run.get("method"), str)
        and isinstance(reward, int | float)
        and not isinstance(reward, bool)
        and math.isfinite(reward)
    )


@dataclass
class MethodChooser:
    path: Path
    arms: tuple[str, ...] = ARMS
    exploration: float = 0.5
    time_cost: float = 0.001  # reward lost per second of solve time
    runs: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text() or "[]")
            except json.JSONDecodeError as exc:
                raise InvalidParameter(
                    f"record: {self.path} is not a chooser record ({exc.msg}); delete it or "
                    "pass another path."
                ) from None
            if not isinstance(data, list) or not all(_valid_run(r) for r in data):
                raise InvalidParameter(
                    f"record: {self.path} is not a list of runs; delete it or pass another path."
                )
            self.runs = data

    @classmethod
    def default(cls) -> MethodChooser:
        return cls(default_record_path())

    def stats(self, cls: str) -> dict[str, tuple[int, float]]:
        out = {}
        for arm in self.arms:
            rewards = [r["reward"] for r in self.runs if r["cls"] == cls and r["method"] == arm]
            out[arm] = (len(rewards), float(np.mean(rewards)) if rewards else 0.0)
        return out

    def choose(self, inst: Instance, objective: str, seed: int = 0) -> str:
        cls = instance_class(inst, objective)
        stats = self.stats(cls)
        untried = [a for a in self.arms if stats[a][0] == 0]
        if untried:
            return untried[np.random.default_rng(seed + len(self.runs)).integers(len(untried))]
        total = sum(n for n, _ in stats.values())
        score = {
            a: m + self.exploration * math.sqrt(2 * math.log(total) / n)
            for a, (n, m) in stats.items()
        }
        return max(self.arms, key=lambda a: (score[a], -self.arms.index(a)))

    def record(self, inst: Instance, objective: str, result: object) -> dict:
        """Score ``result`` against the list heuristic on ``inst`` and append it to the record."""
        from qenergy.heuristics import list_schedule
        from qenergy.result import model_value

        base, _ = list_schedule(inst, objective)
        value = float(result.model_value)  # type: ignore[attr-defined]
        ref = model_value(inst, base, objective) if base is not None else value
        reward = (ref - value) / max(abs(ref), 1e-9) - self.time_cost * float(result.solve_s)  # type: ignore[attr-defined]
        run = {
            "cls": instance_class(inst, objective),
            "method": str(result.method).split(":")[-1],  # type: ignore[attr-defined]
            "reward": reward,
            "value": value,
            "list_value": ref,
            "solve_s": float(result.solve_s),  # type: ignore[attr-defined]
            "n_jobs": inst.n,
        }
        self.runs.append(run)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.runs, indent=1))
        tmp.replace(self.path)
        return run
