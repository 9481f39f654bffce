"""The Numenta Anomaly Benchmark: corpus reader, scorer and runner."""

from qops.nab.corpus import NabCorpus, NabSeries, find_nab_root, load_corpus, read_results
from qops.nab.runner import DetectorRun, run_detector, write_results
from qops.nab.scorer import PROFILES, CostProfile, ProfileScore, score_corpus

__all__ = [
    "PROFILES",
    "CostProfile",
    "DetectorRun",
    "NabCorpus",
    "NabSeries",
    "ProfileScore",
    "find_nab_root",
    "load_corpus",
    "read_results",
    "run_detector",
    "score_corpus",
    "write_results",
]
