"""Metrics for optimisation runs, fed from ``qcore.solve``'s result."""

from __future__ import annotations

from qcore.solve import SolveResult

from qops.monitoring.metrics import MetricsRegistry

__all__ = ["SolveMetrics"]

ENERGY_GAP_BUCKETS = (0.0, 1e-6, 1e-4, 1e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


class SolveMetrics:
    """``record(result, reference_energy=None)`` after each ``qcore.solve``:

    - ``solve_runs_total{solver}``: runs by the solver that produced the answer;
    - ``solve_fallbacks_total{solver,error}``: each failed attempt before it;
    - ``solve_seconds{solver}``: wall time; ``solve_energy{solver}``: last energy;
    - ``solve_relative_gap{solver}``: ``|E - E_ref| / max(|E_ref|, 1e-12)`` when a reference
      (best-known or proven optimum) is given; ``solve_proven_optimal_total{solver}``.
    """

    def __init__(self, metrics: MetricsRegistry) -> None:
        self.runs = metrics.counter("solve_runs", "qcore.solve runs by solver.", ["solver"])
        self.fallbacks = metrics.counter(
            "solve_fallbacks",
            "Solvers that failed before the one that answered.",
            ["solver", "error"],
        )
        self.seconds = metrics.histogram("solve_seconds", "qcore.solve wall time.", ["solver"])
        self.energy = metrics.gauge("solve_energy", "Energy of the last answer.", ["solver"])
        self.gap = metrics.histogram(
            "solve_relative_gap",
            "Relative gap to the reference energy.",
            ["solver"],
            buckets=ENERGY_GAP_BUCKETS,
        )
        self.proven = metrics.counter("solve_proven_optimal", "Answers proven optimal.", ["solver"])

    def record(self, result: SolveResult, reference_energy: float | None = None) -> float | None:
        """Record one result; the relative gap, when a reference was given."""
        solver = result.solver
        self.runs.labels(solver).inc()
        for attempt in result.attempts:
            self.fallbacks.labels(attempt.solver, attempt.error_type).inc()
        self.seconds.labels(solver).observe(result.wall_s)
        energy = result.energy
        self.energy.labels(solver).set(energy)
        if result.proven_optimal:
            self.proven.labels(solver).inc()
        if reference_energy is None:
            return None
        gap = abs(energy - reference_energy) / max(abs(reference_energy), 1e-12)
        self.gap.labels(solver).observe(gap)
        return gap
