"""Adaptive re-mapping: when to re-plan as traffic and the fabric change (a contextual bandit).

A seeded stream of epochs: a job's traffic moves between phases (e.g. tensor-parallel heavy,
data-parallel heavy, expert all-to-all) and InfiniBand links degrade and recover. Before each
epoch a policy picks an action: ``keep`` the mapping, ``refine`` it (a short congestion swap
search from the current mapping: few ranks move) or ``remap`` (the full ``best`` planner,
seeded with the current mapping; its plan is adopted only if it is at least 1% faster, so a
re-map never moves ranks for nothing).
An epoch costs ``steps x simulated time`` of its traffic under the chosen mapping plus
``migration_s`` per rank that changed GPU (moving its state). Reward = minus that cost over
the epoch's ideal (``steps x`` the injection lower bound), so rewards are comparable.

Policies compared on the same stream: ``never`` (always keep), ``always`` (remap on every
change, keep otherwise), ``bandit`` (epsilon-greedy per context, the context being how much
the current mapping's busiest link has grown since the mapping was adopted: below 1.1x,
1.1-2x, above 2x, computed from link loads without simulating; epsilon decays as
0.3/sqrt(visits); values are running means of the reward). A mapping serves for many epochs,
so the bandit's reward charges a migration spread over the mean tenure of its mappings so far
(otherwise every re-map looks bad in the epoch that pays for it); the reported totals charge
it in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qnvlink.builders import cluster
from qnvlink.congestion import congestion_search
from qnvlink.errors import UnknownMethod
from qnvlink.fabric import Fabric
from qnvlink.mapping import map_ranks
from qnvlink.metrics import evaluate, lower_bound
from qnvlink.traffic import all_to_all, parallel_3d

__all__ = ["ACTIONS", "POLICIES", "Epoch", "StreamResult", "make_stream", "run_policy"]

ACTIONS = ("keep", "refine", "remap")
DRIFT_BUCKETS = (1.1, 2.0)  # busiest-link time now / when the current mapping was adopted
EPSILON = 0.3
POLICIES = ("never", "always", "bandit")


@dataclass(frozen=True)
class Epoch:
    traffic: np.ndarray
    fabric: Fabric
    changed: str  # "none", "traffic" or "fabric"


@dataclass
class StreamResult:
    policy: str
    total_s: float
    comm_s: float
    migration_s: float
    actions: dict[str, int] = field(default_factory=dict)


def _phases(nodes: int, rng: np.random.Generator) -> list[np.ndarray]:
    ranks = 8 * nodes
    tp_heavy = parallel_3d(2, 8, nodes // 2 or 1, tp_bytes=4e9, dp_bytes=5e8, pp_bytes=1e8)
    dp_heavy = parallel_3d(2, 4, ranks // 8, tp_bytes=2e8, dp_bytes=3e9, pp_bytes=1e8)
    moe = np.zeros((ranks, ranks))
    group = 8
    order = rng.permutation(ranks)  # expert-parallel groups scattered over the job's ranks
    for start in range(0, ranks, group):
        members = order[start : start + group]
        moe[np.ix_(members, members)] += all_to_all(group, 4e9)
    return [tp_heavy, dp_heavy, moe]


def make_stream(
    epochs: int = 40, *, nodes: int = 4, seed: int = 0, p_phase: float = 0.15,
    p_degrade: float = 0.1, p_recover: float = 0.3,
) -> list[Epoch]:  # fmt: skip
    """A seeded stream on ``nodes`` DGX H100 (rail-optimised), 8 ranks per node."""
    if not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 2 or nodes % 2:
        raise UnknownMethod(f"nodes: is {nodes!r}; the stream's jobs need an even count >= 2.")
    rng = np.random.default_rng(seed)
    base = cluster("dgx-h100", nodes)
    phases = _phases(nodes, rng)
    rails = [(u, v) for u, v, d in base.graph.edges(data=True) if d.get("type") == "ib"]
    rails = [(u, v) for u, v in rails if "nic" in str(u) or "nic" in str(v)]
    phase, fabric, degraded = 0, base, None
    stream = []
    for t in range(epochs):
        changed = "none"
        if t > 0 and rng.random() < p_phase:
            phase = int(rng.choice([p for p in range(len(phases)) if p != phase]))
            changed = "traffic"
        if degraded is None and rng.random() < p_degrade:
            degraded = rails[int(rng.integers(len(rails)))]
            fabric = base.with_link(*degraded, factor=0.2)
            changed = "fabric"
        elif degraded is not None and rng.random() < p_recover:
            degraded, fabric = None, base
            changed = "fabric"
        jitter = 1 + 0.05 * rng.standard_normal()
        stream.append(Epoch(phases[phase] * max(jitter, 0.5), fabric, changed))
    return stream


def _sim(epoch: Epoch, mapping: np.ndarray) -> float:
    return float(evaluate(epoch.fabric, epoch.traffic, mapping).sim_time_s)


def _peak(epoch: Epoch, mapping: np.ndarray) -> float:
    """The busiest link's time under ``mapping`` (cheap: link loads, no simulation)."""
    return evaluate(epoch.fabric, epoch.traffic, mapping, run_simulation=False).max_congestion_s


def run_policy(
    stream: list[Epoch],
    policy: str,
    *,
    steps: int = 50,
    migration_s: float = 0.05,
    seed: int = 0,
) -> StreamResult:
    """Play ``policy`` over ``stream``; costs in (simulated) seconds."""
    if policy not in POLICIES:
        raise UnknownMethod(f"policy: is {policy!r}; use one of {', '.join(POLICIES)}.")
    rng = np.random.default_rng(seed)
    contexts = list(range(len(DRIFT_BUCKETS) + 1))
    values = {(c, a): 0.0 for c in contexts for a in ACTIONS}
    visits = {key: 0 for key in values}
    seen = dict.fromkeys(contexts, 0)
    context = 0
    reference = 1.0  # busiest-link time of the current mapping when it was adopted
    mapping = None
    comm = migration = 0.0
    counts = dict.fromkeys(ACTIONS, 0)
    tenures: list[int] = []
    adopted_at = 0
    for t, epoch in enumerate(stream):
        n = epoch.traffic.shape[0]
        if mapping is None:
            action = "remap"  # the job's first placement is planned by every policy
        elif policy == "never":
            action = "keep"
        elif policy == "always":
            action = "remap" if epoch.changed != "none" else "keep"
        else:
            drift = _peak(epoch, mapping) / max(reference, 1e-30)
            context = int(np.searchsorted(DRIFT_BUCKETS, drift))
            seen[context] += 1
            eps = EPSILON / np.sqrt(seen[context])
            if rng.random() < eps:
                action = ACTIONS[int(rng.integers(len(ACTIONS)))]
            else:
                untried = [a for a in ACTIONS if visits[(context, a)] == 0]
                action = untried[0] if untried else max(ACTIONS, key=lambda a: values[(context, a)])
        counts[action] += 1
        old = mapping
        if action == "remap":
            start = None if mapping is None else mapping.tolist()
            plan = map_ranks(epoch.fabric, epoch.traffic, "best", seed=seed, initial=start)
            # an equally fast plan that moves ranks is no gain: keep the current one then
            if mapping is None or plan.metrics.sim_time_s < 0.99 * _sim(epoch, mapping):
                mapping = plan.mapping
        elif action == "refine":
            size = epoch.fabric.num_gpus
            used = set(mapping.tolist())
            idle = np.array([g for g in range(size) if g not in used], dtype=np.int64)
            start = np.concatenate([mapping, idle]).astype(np.int64)
            perm, _ = congestion_search(
                epoch.fabric, epoch.traffic, start, n, seed=seed + t, max_moves=4 * n
            )
            mapping = perm[:n]
        moved = 0 if old is None else int(np.sum(mapping != old))
        if old is None or moved:
            reference = _peak(epoch, mapping)
        time_s = evaluate(epoch.fabric, epoch.traffic, mapping).sim_time_s
        cost_comm = steps * time_s
        cost_move = migration_s * moved
        comm += cost_comm
        migration += cost_move
        if old is not None and moved:
            tenures.append(t - adopted_at)
            adopted_at = t
        if policy == "bandit" and old is not None:
            # a mapping serves for a while: charge the migration against the mean tenure of
            # mappings so far, so a remap is not judged by its first epoch alone
            horizon = float(np.mean(tenures)) if tenures else 5.0
            ideal = steps * max(lower_bound(epoch.fabric, epoch.traffic), 1e-12)
            reward = -(cost_comm + cost_move / horizon) / ideal
            key = (context, action)
            visits[key] += 1
            values[key] += (reward - values[key]) / visits[key]
    return StreamResult(policy, comm + migration, comm, migration, counts)
