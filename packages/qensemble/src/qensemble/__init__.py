"""qensemble: Ensembles of PyTorch models trained by parallel workers (process pool or Ray), prediction- and weight-space combining, Byzantine-robust aggregation, QUBO ensemble selection against Caruana's greedy."""

__version__ = "0.1.0"
