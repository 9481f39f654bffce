"""qcore's ZNE extrapolation against Mitiq's own factories (Mitiq is not a qcore dependency:
mitiq 1.1 pins numpy<2.3 and the workspace locks a newer numpy), in a throw-away environment:

    uv run --no-project --python 3.11 --with mitiq==1.1.0 python tools/check_mitiq_parity.py

It loads ``extrapolate`` from qcore's source (no qcore install needed), fits 400 random sets of
scale factors and values with Richardson and linear extrapolation, and prints the largest
difference from ``mitiq.zne.inference.RichardsonFactory`` / ``LinearFactory``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SOURCE = Path(__file__).resolve().parents[1] / "packages/qcore/src/qcore/solvers/mitigation.py"


def load_extrapolate():
    src = SOURCE.read_text()
    body = src[src.index("def extrapolate(") : src.index("def richardson_weights(")]
    namespace = {
        "np": np,
        "Sequence": list,
        "InvalidProblem": ValueError,
        "EXTRAPOLATIONS": ("richardson", "linear"),
    }
    exec("from __future__ import annotations\n" + body, namespace)
    return namespace["extrapolate"]


def main() -> None:
    import mitiq
    from mitiq.zne.inference import LinearFactory, RichardsonFactory

    ours = load_extrapolate()
    rng = np.random.default_rng(0)
    grid = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 7.0]
    worst = 0.0
    for _ in range(200):
        xs = sorted(rng.choice(grid, size=int(rng.integers(2, 5)), replace=False).tolist())
        ys = rng.normal(size=len(xs)).tolist()
        worst = max(worst, abs(ours(xs, ys, "richardson") - RichardsonFactory.extrapolate(xs, ys)))
        worst = max(worst, abs(ours(xs, ys, "linear") - LinearFactory.extrapolate(xs, ys)))
    print(f"mitiq {mitiq.__version__}: max |qcore - mitiq| over 400 fits = {worst:.2e}")
    if worst > 1e-8:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
