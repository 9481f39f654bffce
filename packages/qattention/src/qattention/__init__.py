"""qattention: Drop-in attention utilities for PyTorch: exact top-k sparse attention in query chunks, RoPE (linear, NTK, YaRN) and sinusoidal encodings, SVD and gradient-importance head pruning, an InfoNCE contrastive trainer."""

__version__ = "0.1.0"
