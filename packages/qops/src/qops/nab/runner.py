"""Run a streaming detector over NAB's corpus and write its results in NAB's own layout."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from qops.detectors.base import SeriesContext, StreamingDetector
from qops.nab.corpus import NabCorpus, results_file_name

__all__ = ["DetectorRun", "run_detector", "write_results"]

DetectorFactory = Callable[[SeriesContext], StreamingDetector]


@dataclass(frozen=True)
class DetectorRun:
    detector: str
    scores: dict[str, np.ndarray]
    points: int
    seconds: float

    @property
    def points_per_second(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else float("inf")


def run_detector(
    name: str,
    factory: DetectorFactory,
    corpus: NabCorpus,
    progress: TextIO | None = None,
) -> DetectorRun:
    """Feed every data file, point by point, to a fresh detector built for that file (it gets
    the file's range and length, as NAB's detectors do, and never the labels)."""
    scores: dict[str, np.ndarray] = {}
    total_points = 0
    total_seconds = 0.0
    files = len(corpus.series)
    for number, (rel, series) in enumerate(corpus.series.items(), start=1):
        detector = factory(SeriesContext.of(series.values))
        started = time.perf_counter()
        update = detector.update
        out = np.fromiter((update(v) for v in series.values.tolist()), float, series.values.size)
        elapsed = time.perf_counter() - started
        scores[rel] = out
        total_points += series.values.size
        total_seconds += elapsed
        if progress is not None:
            print(
                f"[{number}/{files}] {name} {rel}: {series.values.size} points in {elapsed:.1f} s",
                file=progress,
                flush=True,
            )
    return DetectorRun(name, scores, total_points, total_seconds)


def write_results(out_dir: Path, run: DetectorRun, corpus: NabCorpus) -> Path:
    """``out_dir/<detector>/<category>/<detector>_<file>.csv`` with timestamp,anomaly_score."""
    base = Path(out_dir) / run.detector
    for rel, series in corpus.series.items():
        path = base / results_file_name(run.detector, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["timestamp", "anomaly_score"])
            stamps = np.datetime_as_string(series.timestamps, unit="s")
            for stamp, score in zip(stamps, run.scores[rel], strict=True):
                writer.writerow([str(stamp).replace("T", " "), repr(float(score))])
    return base
