"""``Ensemble``: train members in parallel workers, combine and select them.

Scheduling: one member per worker at a time; the balancer picks which idle worker gets the
next member (avoiding a worker the member already failed on) and learns each worker's speed
and success rate. A member whose worker raises, dies or exceeds ``member_timeout`` is retried
on another worker up to ``max_retries`` times, then dropped with a record in ``failures``.
With ``checkpoint_dir``, finished members are saved and reloaded on the next ``fit`` (resume),
and unfinished ones continue from their last epoch checkpoint.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qensemble import combine, selection, soup
from qensemble._checks import check_int
from qensemble.balancer import make_balancer
from qensemble.errors import (
    EmptyEnsemble,
    InvalidParameter,
    MemberShapeMismatch,
    ModelNotPicklable,
    NoMembersTrained,
    QensembleError,
)
from qensemble.pools import WorkerLost, make_pool
from qensemble.training import (
    MemberResult,
    MemberTask,
    TrainConfig,
    checkpoint_paths,
    fingerprint,
    load_checkpoint,
    load_final,
    predict_member,
)

__all__ = ["BACKENDS", "METHODS", "Ensemble", "MemberFailure", "ProgressEvent"]

BACKENDS = ("local", "serial", "ray")
METHODS = (
    "mean",
    "vote",
    "confidence",
    "softmax_score",
    "correlation",
    "stacking",
    "uniform_soup",
    "greedy_soup",
)


@dataclass
class MemberFailure:
    index: int
    seed: int
    attempts: int
    errors: list[str]  # one line per attempt: "worker 1: RuntimeError: ..."


@dataclass
class ProgressEvent:
    kind: str  # "done", "retry", "dropped", "resumed"
    index: int
    worker: int | None
    finished: int
    total: int
    message: str


@dataclass
class _Item:
    task: MemberTask
    attempts: int = 0
    tried: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


def _check_picklable(model_fn: Any) -> None:
    try:
        pickle.loads(pickle.dumps(model_fn))
    except Exception as exc:
        raise ModelNotPicklable(
            f"model_fn: cannot be pickled for worker processes ({type(exc).__name__}: {exc}); "
            "define it at module top level, or use functools.partial or qensemble.MLPFactory "
            "(lambdas and local functions cannot be sent to workers)."
        ) from None


def _as_xy(x: Any, y: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    xs = np.asarray(x, dtype=np.float32)
    ys = np.asarray(y)
    if xs.ndim < 2 or len(xs) == 0:
        raise InvalidParameter(f"{name}: has shape {xs.shape}; pass [samples, features...].")
    if not np.all(np.isfinite(xs)):
        raise InvalidParameter(f"{name}: contains NaN or inf; clean or impute the features.")
    if ys.shape != (len(xs),):
        raise MemberShapeMismatch(
            f"y{name[1:]}: has shape {ys.shape}; pass one label per row of {name} ({len(xs)})."
        )
    if not np.issubdtype(ys.dtype, np.integer) or (ys.size and ys.min() < 0):
        raise InvalidParameter(f"y{name[1:]}: labels must be integers 0..classes-1.")
    return xs, ys.astype(np.int64)


class Ensemble:
    """An ensemble of torch classifiers trained by parallel workers.

    ``model_fn()`` returns a fresh ``torch.nn.Module`` mapping ``[batch, features]`` to class
    logits; it must be picklable (a top-level function, ``functools.partial`` or
    :class:`qensemble.MLPFactory`). Member ``i`` trains with seed ``seed + i`` on its own data
    view (``view``: bootstrap / subsample / full, plus ``noise_std`` input noise);
    ``share_init=True`` starts every member from the same initialisation (needed for soups).
    """

    def __init__(
        self,
        model_fn: Callable[[], Any],
        n_members: int,
        *,
        backend: str = "local",
        workers: int | None = None,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        view: str = "bootstrap",
        subsample: float = 0.8,
        noise_std: float = 0.0,
        share_init: bool = False,
        seed: int = 0,
        val_fraction: float = 0.2,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_every: int = 1,
        max_retries: int = 1,
        member_timeout: float | None = None,
        balancer: str = "multi_factor",
        capability: list[float] | None = None,
        threads_per_worker: int = 1,
        ray_address: str | None = None,
        progress: bool | Callable[[ProgressEvent], None] = False,
    ) -> None:
        if not callable(model_fn):
            raise InvalidParameter(f"model_fn: is {type(model_fn).__name__}; pass a callable.")
        if isinstance(n_members, int) and not isinstance(n_members, bool) and n_members == 0:
            raise EmptyEnsemble("n_members: is 0; an ensemble needs at least one member.")
        self.n_members = check_int(n_members, "n_members", 1)
        if backend not in BACKENDS:
            raise InvalidParameter(f"backend: is {backend!r}; choose one of {', '.join(BACKENDS)}.")
        if backend != "serial":
            _check_picklable(model_fn)
        self.model_fn = model_fn
        self.backend = backend
        self.workers = check_int(
            workers if workers is not None else min(2, os.cpu_count() or 1), "workers", 1
        )
        self.config = TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            view=view,
            subsample=subsample,
            noise_std=noise_std,
            checkpoint_every=checkpoint_every,
            threads=check_int(threads_per_worker, "threads_per_worker", 1),
        )
        self.share_init = bool(share_init)
        self.seed = check_int(seed, "seed", 0)
        if isinstance(val_fraction, bool) or not 0 < float(val_fraction) < 1:
            raise InvalidParameter(f"val_fraction: is {val_fraction!r}; pass a number in (0, 1).")
        self.val_fraction = float(val_fraction)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.max_retries = check_int(max_retries, "max_retries", 0)
        if member_timeout is not None and (
            isinstance(member_timeout, bool) or not float(member_timeout) > 0
        ):
            raise InvalidParameter(
                f"member_timeout: is {member_timeout!r}; pass seconds > 0 or None."
            )
        self.member_timeout = None if member_timeout is None else float(member_timeout)
        self._balancer_name = balancer
        self.balancer = make_balancer(balancer, self.workers, capability)
        self.ray_address = ray_address
        self.progress = progress
        self.members: list[MemberResult] = []
        self.failures: list[MemberFailure] = []
        self.dispatch_log: list[tuple[int, int, str, float]] = []  # member, worker, outcome, s
        self.fit_seconds = 0.0
        self._val: tuple[np.ndarray, np.ndarray] | None = None
        self._val_probs: np.ndarray | None = None
        self._stacker: combine.StackingCombiner | None = None
        self._classes = 0

    # ---- training -----------------------------------------------------------------------------

    def _emit(self, event: ProgressEvent) -> None:
        if callable(self.progress):
            self.progress(event)
        elif self.progress:
            print(f"[qensemble] {event.message} ({event.finished}/{event.total})", file=sys.stderr)

    def _check_model(self, x: np.ndarray, classes: int) -> None:
        import torch

        torch.manual_seed(self.seed)
        model = self.model_fn()
        if not isinstance(model, torch.nn.Module):
            raise InvalidParameter(
                f"model_fn: returned {type(model).__name__}; it must return a torch.nn.Module."
            )
        model.eval()  # a shape probe, not training: no dropout, no batch-norm statistics
        with torch.no_grad():
            out = model(torch.as_tensor(x[:2]))
        if tuple(out.shape) != (min(2, len(x)), classes):
            raise MemberShapeMismatch(
                f"model_fn: the model outputs shape {tuple(out.shape)} for {min(2, len(x))} "
                f"samples but the labels have {classes} classes; make the last layer "
                f"output {classes} logits."
            )

    def fit(self, x: Any, y: Any, x_val: Any | None = None, y_val: Any | None = None) -> Ensemble:
        """Train every member (resuming from ``checkpoint_dir``); returns ``self``.

        Without ``x_val``, a seeded stratified-by-chance ``val_fraction`` of ``(x, y)`` is held
        out as validation data (member scores, weights, stacking and selection use it).
        """
        xs, ys = _as_xy(x, y, "x")
        if x_val is None:
            if y_val is not None:
                raise InvalidParameter("x_val: y_val was given without x_val; pass both.")
            order = np.random.default_rng([self.seed, 1]).permutation(len(xs))
            cut = round(len(xs) * (1 - self.val_fraction))
            if cut < 1 or cut >= len(xs):
                raise InvalidParameter("x: too few samples to hold out validation data.")
            xs, ys, xv, yv = xs[order[:cut]], ys[order[:cut]], xs[order[cut:]], ys[order[cut:]]
        else:
            xv, yv = _as_xy(x_val, y_val, "x_val")
            if xv.shape[1:] != xs.shape[1:]:
                raise MemberShapeMismatch(
                    f"x_val: has features {xv.shape[1:]} but x has {xs.shape[1:]}."
                )
        classes = int(max(ys.max(), yv.max())) + 1
        self._check_model(xs, classes)
        self._classes = classes
        self._val = (xv, yv)
        self._val_probs = None
        self._stacker = None
        start = time.perf_counter()
        tasks = []
        for i in range(self.n_members):
            seed = self.seed + i
            init_seed = self.seed if self.share_init else seed
            key = fingerprint(self.model_fn, self.config, seed, init_seed, xs, ys, xv, yv)
            tasks.append(
                MemberTask(
                    i,
                    seed,
                    init_seed,
                    self.model_fn,
                    xs,
                    ys,
                    xv,
                    yv,
                    self.config,
                    None if self.checkpoint_dir is None else str(self.checkpoint_dir),
                    key,
                )
            )
        results, failures = self._run(tasks)
        self.members = sorted(results, key=lambda m: m.index)
        self.failures = failures
        self.fit_seconds = time.perf_counter() - start
        if not self.members:
            raise NoMembersTrained(
                f"n_members: all {self.n_members} members failed (first: "
                f"{failures[0].errors[-1] if failures else 'unknown'}); see error.failures.",
                failures,
            )
        return self

    def _run(self, tasks: list[MemberTask]) -> tuple[list[MemberResult], list[MemberFailure]]:
        total = len(tasks)
        results: list[MemberResult] = []
        failures: list[MemberFailure] = []
        pending: deque[_Item] = deque()
        if self.checkpoint_dir is not None:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        for task in tasks:
            done = None
            if self.checkpoint_dir is not None:
                done = load_final(self.checkpoint_dir, task.index, task.key)
                _, partial = checkpoint_paths(self.checkpoint_dir, task.index)
                if done is None:
                    load_checkpoint(partial, task.key)  # a stale one is refused before training
            if done is not None:
                results.append(done)
                self._emit(
                    ProgressEvent(
                        "resumed",
                        task.index,
                        None,
                        len(results),
                        total,
                        f"member {task.index} loaded from checkpoint",
                    )
                )
            else:
                pending.append(_Item(task))
        if not pending:
            return results, failures
        pool = make_pool(self.backend, self.workers, self.config.threads, address=self.ray_address)
        in_flight: dict[Any, tuple[int, _Item, float]] = {}
        try:
            while pending or in_flight:
                busy = {w for w, _, _ in in_flight.values()}
                waiting: deque[_Item] = deque()
                while pending and len(busy) < self.workers:
                    item = pending.popleft()
                    idle = [w for w in range(self.workers) if w not in busy]
                    fresh = [w for w in idle if w not in item.tried]
                    if not fresh and len(item.tried) < self.workers:
                        # A worker it has not failed on is busy: wait for it, not the bad one.
                        waiting.append(item)
                        continue
                    worker = self.balancer.choose(fresh or idle)
                    self.balancer.started(worker)
                    handle = pool.submit(worker, item.task)
                    in_flight[handle] = (worker, item, time.perf_counter())
                    busy.add(worker)
                pending.extendleft(reversed(waiting))
                poll = None if self.member_timeout is None else min(1.0, self.member_timeout)
                done = pool.wait(list(in_flight), timeout=poll)
                now = time.perf_counter()
                outcomes: list[tuple[Any, Any, bool]] = []
                for handle in done:
                    try:
                        outcomes.append((handle, pool.result(handle), False))
                    except QensembleError:
                        raise  # bad input found in a worker: not the worker's fault, not retried
                    except WorkerLost as exc:
                        outcomes.append((handle, exc, True))
                    except Exception as exc:  # the member's failure, recorded and retried
                        outcomes.append((handle, exc, False))
                if self.member_timeout is not None:
                    for handle, (worker, _, t0) in list(in_flight.items()):
                        ready = pool.ready_since(worker)
                        if ready is None:
                            continue  # the worker process is still starting
                        if handle not in done and now - max(t0, ready) > self.member_timeout:
                            outcomes.append(
                                (
                                    handle,
                                    TimeoutError(
                                        f"ran past member_timeout={self.member_timeout:g} s"
                                    ),
                                    True,
                                )
                            )
                for handle, outcome, lost in outcomes:
                    worker, item, t0 = in_flight.pop(handle)
                    # A result carries its own training time (not queueing or start-up).
                    seconds = outcome.seconds if isinstance(outcome, MemberResult) else now - t0
                    if isinstance(outcome, MemberResult):
                        self.balancer.finished(worker, seconds, ok=True)
                        self.dispatch_log.append((item.task.index, worker, "ok", seconds))
                        results.append(outcome)
                        self._emit(
                            ProgressEvent(
                                "done",
                                item.task.index,
                                worker,
                                len(results),
                                total,
                                f"member {item.task.index} done on worker {worker} in "
                                f"{seconds:.1f} s, val acc {outcome.val_accuracy:.3f}"
                                + (
                                    f", resumed at epoch {outcome.resumed_from_epoch}"
                                    if outcome.resumed_from_epoch
                                    else ""
                                ),
                            )
                        )
                        continue
                    if lost:
                        pool.restart(worker)
                    self.balancer.finished(worker, seconds, ok=False)
                    line = f"worker {worker}: {type(outcome).__name__}: {outcome}".splitlines()[0]
                    self.dispatch_log.append((item.task.index, worker, "failed", seconds))
                    item.attempts += 1
                    item.tried.add(worker)
                    item.errors.append(line)
                    if item.attempts <= self.max_retries:
                        pending.appendleft(item)
                        kind, what = "retry", "retrying elsewhere"
                    else:
                        failures.append(
                            MemberFailure(
                                item.task.index, item.task.seed, item.attempts, item.errors
                            )
                        )
                        kind, what = "dropped", "dropped"
                    self._emit(
                        ProgressEvent(
                            kind,
                            item.task.index,
                            worker,
                            len(results),
                            total,
                            f"member {item.task.index} failed ({line}); {what}",
                        )
                    )
        finally:
            pool.close()
        return results, failures

    # ---- predicting ---------------------------------------------------------------------------

    def _require_fitted(self) -> None:
        if not self.members:
            raise EmptyEnsemble("Ensemble: has no trained members; call fit(x, y) first.")

    def _indices(self, members: list[int] | None) -> list[int]:
        if members is None:
            return list(range(len(self.members)))
        if len(members) == 0:
            raise EmptyEnsemble("members: is empty; choose at least one member index.")
        for m in members:
            if isinstance(m, bool) or not isinstance(m, int | np.integer):
                raise InvalidParameter(f"members: {m!r} is not an integer index.")
            if not 0 <= m < len(self.members):
                raise InvalidParameter(
                    f"members: index {m} out of range; the ensemble has {len(self.members)}."
                )
        return [int(m) for m in members]

    def member_probs(self, x: Any, members: list[int] | None = None) -> np.ndarray:
        """Each member's class probabilities on ``x``: ``[members, samples, classes]``."""
        self._require_fitted()
        xs = np.asarray(x, dtype=np.float32)
        val_x = self._val[0] if self._val is not None else None
        if val_x is not None and xs.shape[1:] != val_x.shape[1:]:
            raise MemberShapeMismatch(
                f"x: has features {xs.shape[1:]} but the members were trained on {val_x.shape[1:]}."
            )
        return np.stack(
            [
                predict_member(self.model_fn, self.members[i].state, xs)
                for i in self._indices(members)
            ]
        )

    def validation_probs(self) -> tuple[np.ndarray, np.ndarray]:
        """All members' probabilities on the validation data, and its labels."""
        self._require_fitted()
        assert self._val is not None
        if self._val_probs is None:
            self._val_probs = self.member_probs(self._val[0])
        return self._val_probs, self._val[1]

    def _soup_probs(self, state: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        return predict_member(self.model_fn, state, x)[None]

    def predict_proba(
        self, x: Any, method: str = "mean", members: list[int] | None = None, **params: Any
    ) -> np.ndarray:
        """Combined class probabilities ``[samples, classes]`` by ``method`` (see ``METHODS``).

        ``members`` restricts to a subset (e.g. ``select(...).members``). ``params``:
        ``temperature`` for ``softmax_score``; ``C`` for ``stacking``.
        """
        if method not in METHODS:
            raise InvalidParameter(f"method: is {method!r}; choose one of {', '.join(METHODS)}.")
        chosen = self._indices(members)
        xs = np.asarray(x, dtype=np.float32)
        if method in ("uniform_soup", "greedy_soup"):
            if not self.share_init:
                raise InvalidParameter(
                    f"method: {method} averages parameters, which needs members from one "
                    "initialisation; build the Ensemble with share_init=True."
                )
            states = [self.members[i].state for i in chosen]
            if method == "uniform_soup":
                return self._soup_probs(soup.uniform_soup(states), xs)[0]
            return self._soup_probs(self.greedy_soup(chosen).state, xs)[0]
        probs = self.member_probs(xs, chosen)
        if method == "mean":
            return combine.mean_probs(probs)
        if method == "vote":
            return combine.majority_vote(probs)
        if method == "confidence":
            return combine.confidence_weighted(probs)
        val_probs, val_y = self.validation_probs()
        val_probs = val_probs[chosen]
        if method == "softmax_score":
            scores = [self.members[i].val_accuracy for i in chosen]
            weights = combine.softmax_score_weights(scores, params.get("temperature", 0.05))
            return combine.weighted_mean(probs, weights)
        if method == "correlation":
            return combine.weighted_mean(probs, combine.correlation_weights(val_probs))
        stacker = combine.StackingCombiner(C=params.get("C", 1.0), seed=self.seed)
        stacker.fit(val_probs, val_y)
        return stacker.predict_proba(probs)

    def greedy_soup(self, members: list[int] | None = None) -> soup.GreedySoup:
        """Wortsman et al.'s greedy soup on the validation data (``share_init=True`` only)."""
        chosen = self._indices(members)
        assert self._val is not None
        xv, yv = self._val

        def accuracy(state: dict[str, np.ndarray]) -> float:
            return float((predict_member(self.model_fn, state, xv).argmax(axis=1) == yv).mean())

        result = soup.greedy_soup(
            [self.members[i].state for i in chosen],
            [self.members[i].val_accuracy for i in chosen],
            accuracy,
        )
        result.ingredients = [chosen[i] for i in result.ingredients]
        return result

    def select(self, k: int, method: str = "qubo", **params: Any) -> selection.Selection:
        """Choose ``k`` members on the validation data: ``qubo``, ``caruana`` or ``top_k``.

        The indices are positions in ``self.members`` (pass them as ``members=`` to
        ``predict_proba`` / ``score``); ``self.members[i].index`` is the member's own number.
        """
        val_probs, val_y = self.validation_probs()
        if method == "qubo":
            return selection.qubo_select(val_probs, val_y, k, **params)
        if method == "caruana":
            return selection.caruana_select(val_probs, val_y, k, **params)
        if method == "top_k":
            return selection.top_k_select(val_probs, val_y, k)
        raise InvalidParameter(f"method: is {method!r}; choose qubo, caruana or top_k.")

    def score(self, x: Any, y: Any, method: str = "mean", **kw: Any) -> float:
        """Accuracy of ``predict_proba(x, method, ...)`` on labels ``y``."""
        ys = np.asarray(y)
        probs = self.predict_proba(x, method, **kw)
        if ys.shape != (len(probs),):
            raise MemberShapeMismatch(f"y: has shape {ys.shape}; pass one label per row of x.")
        return float((probs.argmax(axis=1) == ys).mean())
