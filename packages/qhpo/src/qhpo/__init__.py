"""qhpo: Hyperparameter search for expensive training runs: Gaussian-process log-EI (our own), a PennyLane Born-machine optimiser, hybrid, random and Sobol baselines; ask/tell, batches, warm starts, and Optuna samplers."""

__version__ = "0.1.0"
