"""Streaming anomaly detectors: one point in, one score in [0, 1] out."""

from qops.detectors.adaptive_resonance import AdaptiveResonanceDetector, haar_dwt
from qops.detectors.base import SeriesContext, StreamingDetector
from qops.detectors.ewma import EwmaDetector
from qops.detectors.isolation_forest import IsolationForestDetector, StreamingIsolationForest
from qops.detectors.knn_conformal import KnnConformalDetector
from qops.detectors.multiscale_knn import MultiScaleKnnDetector
from qops.detectors.registry import DEFAULT_DETECTOR, detector_names, make_detector
from qops.detectors.robust_z import RobustZDetector
from qops.detectors.seasonal_esd import SeasonalEsdDetector, estimate_period

__all__ = [
    "DEFAULT_DETECTOR",
    "AdaptiveResonanceDetector",
    "EwmaDetector",
    "IsolationForestDetector",
    "KnnConformalDetector",
    "MultiScaleKnnDetector",
    "RobustZDetector",
    "SeasonalEsdDetector",
    "SeriesContext",
    "StreamingDetector",
    "StreamingIsolationForest",
    "detector_names",
    "estimate_period",
    "haar_dwt",
    "make_detector",
]
