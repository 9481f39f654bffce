"""qattention: drop-in attention utilities for PyTorch.

Exact top-k sparse attention in query chunks (``topk_attention``, ``TopKAttention``), rotary
(RoPE: linear, NTK-aware, YaRN) and sinusoidal position encodings, SVD and gradient-importance
head pruning, an InfoNCE contrastive trainer, and (extra ``quantum``) quantum-kernel attention
and SVM experiments. Hugging Face ``transformers`` (extra ``hf``) is imported only by the
functions that work on HF models.
"""

from qattention.diverse import KeySubset, greedy_key_subset, qubo_key_subset, subset_attention
from qattention.errors import InvalidArgument, InvalidShape, QattentionError, UnsupportedModel
from qattention.module import TopKAttention
from qattention.topk import naive_attention, topk_attention

__version__ = "0.1.0"

__all__ = [
    "InvalidArgument",
    "InvalidShape",
    "KeySubset",
    "QattentionError",
    "TopKAttention",
    "UnsupportedModel",
    "greedy_key_subset",
    "naive_attention",
    "qubo_key_subset",
    "subset_attention",
    "topk_attention",
]
