"""Detectors by name, for the CLI and the NAB runner. ``default`` is our best on NAB."""

from __future__ import annotations

from collections.abc import Callable

from qops.detectors.adaptive_resonance import AdaptiveResonanceDetector
from qops.detectors.base import SeriesContext, StreamingDetector
from qops.detectors.ewma import EwmaDetector
from qops.detectors.isolation_forest import IsolationForestDetector
from qops.detectors.knn_conformal import KnnConformalDetector
from qops.detectors.multiscale_knn import MultiScaleKnnDetector
from qops.detectors.robust_z import RobustZDetector
from qops.detectors.seasonal_esd import SeasonalEsdDetector
from qops.errors import UnknownDetector

__all__ = ["DEFAULT_DETECTOR", "detector_names", "make_detector"]

DetectorFactory = Callable[[SeriesContext], StreamingDetector]


# One parameter set for every series; the only things a detector learns before the first
# point are the series' range and length (NAB's protocol), never its labels.
def _scale_floor(context: SeriesContext) -> float:
    """A thousandth of the series' range: below it, a change is noise, not an anomaly (keeps
    a flat stretch, whose MAD or deviation is 0, from making every wiggle infinite)."""
    return max(1e-9, 1e-3 * (context.value_max - context.value_min))


_FACTORIES: dict[str, DetectorFactory] = {
    "robust_z": lambda context: RobustZDetector(min_scale=_scale_floor(context)),
    "ewma": lambda context: EwmaDetector(min_std=_scale_floor(context)),
    "seasonal_esd": lambda context: SeasonalEsdDetector(),
    "isolation_forest": lambda context: IsolationForestDetector(),
    "knn_conformal": lambda context: KnnConformalDetector(context),
    "multiscale_knn": lambda context: MultiScaleKnnDetector(context),
    "adaptive_resonance": lambda context: AdaptiveResonanceDetector(context),
    "gated_resonance": lambda context: AdaptiveResonanceDetector(context, magnitude_gate=3.0),
}

DEFAULT_DETECTOR = "gated_resonance"


def detector_names() -> list[str]:
    """Every registered name, ``default`` included."""
    return ["default", *_FACTORIES]


def resolve_name(name: object) -> str:
    if not isinstance(name, str) or (name != "default" and name not in _FACTORIES):
        raise UnknownDetector(
            f"detector: unknown name {name!r}; known detectors: {', '.join(detector_names())}."
        )
    return DEFAULT_DETECTOR if name == "default" else name


def make_detector(name: str, context: SeriesContext) -> StreamingDetector:
    """A fresh detector ``name`` for a series described by ``context``."""
    return _FACTORIES[resolve_name(name)](context)
