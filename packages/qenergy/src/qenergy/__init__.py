"""qenergy: Predict GPU job power and schedule jobs under a power cap and deadlines: list heuristics, exact CP-SAT, time-indexed QUBO through qcore, hybrid and auto; predictors from linear and gradient boosting to GraphSAGE."""

__version__ = "0.1.0"
