"""Retry (seeded delay distribution), circuit breaker (every transition, injected clock),
timeouts, bulkheads and fallbacks, sync and async."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

from qops.errors import BulkheadFull, CallTimeout, CircuitOpen, InvalidConfig
from qops.resilience import (
    BreakerState,
    Bulkhead,
    CircuitBreaker,
    FullJitterWait,
    Transition,
    async_retrying,
    call_with_timeout,
    call_with_timeout_async,
    fallback,
    retry,
    retrying,
    timeout,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Boom(RuntimeError):
    pass


class CallerMistake(ValueError):
    pass


def fail() -> None:
    raise Boom("dependency down")


def ok() -> str:
    return "ok"


def make_breaker(**kwargs: object) -> tuple[CircuitBreaker, FakeClock, list[Transition]]:
    clock, events = FakeClock(), []
    settings = {"failure_threshold": 3, "reset_timeout": 10.0, "success_threshold": 2}
    settings.update(kwargs)
    breaker = CircuitBreaker("db", clock=clock, listeners=[events.append], **settings)
    return breaker, clock, events


# --- circuit breaker -----------------------------------------------------------------------


def test_closed_to_open_after_consecutive_failures_only() -> None:
    breaker, _, events = make_breaker()
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail)
    breaker.call(ok)  # a success resets the run of failures
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail)
    assert breaker.state is BreakerState.CLOSED and events == []
    with pytest.raises(Boom):
        breaker.call(fail)
    assert breaker.state is BreakerState.OPEN
    assert [(e.old, e.new) for e in events] == [(BreakerState.CLOSED, BreakerState.OPEN)]


def test_open_refuses_without_calling_until_reset_timeout() -> None:
    breaker, clock, _ = make_breaker()
    for _ in range(3):
        with pytest.raises(Boom):
            breaker.call(fail)
    calls = []
    clock.now += 9.9
    with pytest.raises(CircuitOpen, match="'db' is open"):
        breaker.call(lambda: calls.append(1))
    assert calls == []
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN


def test_half_open_closes_after_success_threshold() -> None:
    breaker, clock, events = make_breaker()
    for _ in range(3):
        with pytest.raises(Boom):
            breaker.call(fail)
    clock.now += 10
    breaker.call(ok)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.call(ok)
    assert breaker.state is BreakerState.CLOSED
    assert [e.new for e in events] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_half_open_failure_reopens_and_restarts_the_timeout() -> None:
    breaker, clock, events = make_breaker()
    for _ in range(3):
        with pytest.raises(Boom):
            breaker.call(fail)
    clock.now += 10
    with pytest.raises(Boom):
        breaker.call(fail)
    assert breaker.state is BreakerState.OPEN
    clock.now += 9
    assert breaker.state is BreakerState.OPEN
    clock.now += 1
    assert breaker.state is BreakerState.HALF_OPEN
    assert [e.new for e in events][-3:] == [
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
    ]


def test_half_open_allows_only_its_trial_calls_at_once() -> None:
    breaker, clock, _ = make_breaker(success_threshold=1, half_open_max_calls=1)
    for _ in range(3):
        with pytest.raises(Boom):
            breaker.call(fail)
    clock.now += 10
    # the one trial call is in flight (guard), so a second is refused
    with breaker.guard(), pytest.raises(CircuitOpen, match="trial call"):
        breaker.call(ok)
    assert breaker.state is BreakerState.CLOSED


def test_excluded_exceptions_pass_through_without_counting() -> None:
    breaker, _, events = make_breaker(excluded=(CallerMistake,))

    def mistake() -> None:
        raise CallerMistake("bad argument")

    for _ in range(10):
        with pytest.raises(CallerMistake):
            breaker.call(mistake)
    assert breaker.state is BreakerState.CLOSED and events == []


def test_breaker_decorates_async_functions() -> None:
    breaker, clock, _ = make_breaker(failure_threshold=1, success_threshold=1)

    @breaker
    async def flaky(fail_now: bool) -> str:
        if fail_now:
            raise Boom("down")
        return "up"

    with pytest.raises(Boom):
        asyncio.run(flaky(True))
    with pytest.raises(CircuitOpen):
        asyncio.run(flaky(False))
    clock.now += 10
    assert asyncio.run(flaky(False)) == "up"
    assert breaker.state is BreakerState.CLOSED


def test_breaker_checks_its_settings() -> None:
    with pytest.raises(InvalidConfig, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(InvalidConfig, match="reset_timeout"):
        CircuitBreaker(reset_timeout=-1)
    with pytest.raises(InvalidConfig, match="excluded"):
        CircuitBreaker(excluded=("ValueError",))  # type: ignore[arg-type]


# --- retry ---------------------------------------------------------------------------------


def test_full_jitter_delays_are_uniform_below_the_capped_exponential() -> None:
    wait = FullJitterWait(base=0.1, cap=2.0, rng=random.Random(42))
    assert [wait.ceiling(n) for n in (1, 2, 3, 4, 5, 6)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]

    class State:
        attempt_number = 4

    draws = [wait(State()) for _ in range(20000)]  # type: ignore[arg-type]
    assert min(draws) >= 0.0 and max(draws) <= 0.8
    assert sum(draws) / len(draws) == pytest.approx(0.4, rel=0.02)  # mean of U(0, 0.8)
    below = sum(d < 0.2 for d in draws) / len(draws)
    assert below == pytest.approx(0.25, abs=0.01)  # P(U(0, 0.8) < 0.2)


def test_same_seed_same_delays_and_retries_until_success() -> None:
    def run(seed: int) -> list[float]:
        slept: list[float] = []
        attempts = iter([Boom, Boom, Boom, None])

        def flaky() -> str:
            error = next(attempts)
            if error:
                raise error("transient")
            return "done"

        assert retrying(attempts=5, base=0.5, cap=3, seed=seed, sleep=slept.append)(flaky) == "done"
        return slept

    first, again, other = run(1), run(1), run(2)
    assert first == again and first != other and len(first) == 3
    assert all(0 <= d <= c for d, c in zip(first, [0.5, 1.0, 2.0], strict=True))


def test_retry_gives_up_with_the_real_error_and_skips_other_errors() -> None:
    slept: list[float] = []
    calls = []

    def down() -> None:
        calls.append(1)
        raise Boom("still down")

    with pytest.raises(Boom, match="still down"):
        retrying(attempts=3, seed=0, sleep=slept.append, retry_on=(Boom,))(down)
    assert len(calls) == 3 and len(slept) == 2

    calls.clear()

    def wrong() -> None:
        calls.append(1)
        raise CallerMistake("not retried")

    with pytest.raises(CallerMistake):
        retrying(attempts=3, seed=0, sleep=slept.append, retry_on=(Boom,))(wrong)
    assert len(calls) == 1


def test_retry_decorator_works_on_async_functions() -> None:
    attempts = []

    @retry(attempts=3, base=0.001, cap=0.002, seed=3, retry_on=(Boom,))
    async def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise Boom("again")
        return len(attempts)

    assert asyncio.run(flaky()) == 3


def test_async_retrying_uses_the_injected_sleep() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    async def main() -> str:
        count = 0
        async for attempt in async_retrying(attempts=4, seed=5, sleep=fake_sleep):
            with attempt:
                count += 1
                if count < 4:
                    raise Boom("x")
        return "ok"

    assert asyncio.run(main()) == "ok" and len(slept) == 3


def test_retry_settings_are_checked() -> None:
    with pytest.raises(InvalidConfig, match="attempts"):
        retrying(attempts=0)
    with pytest.raises(InvalidConfig, match="retry_on"):
        retrying(retry_on=())
    with pytest.raises(InvalidConfig, match="base"):
        FullJitterWait(base=0)


# --- timeouts, bulkheads, fallbacks ---------------------------------------------------------


def test_sync_timeout_returns_control_to_the_caller() -> None:
    release = threading.Event()
    with pytest.raises(CallTimeout, match=r"longer than 0\.05s"):
        call_with_timeout(0.05, release.wait, 5)
    release.set()
    assert call_with_timeout(1.0, ok) == "ok"


def test_async_timeout_cancels() -> None:
    @timeout(0.05)
    async def slow() -> None:
        await asyncio.sleep(5)

    with pytest.raises(CallTimeout):
        asyncio.run(slow())
    assert asyncio.run(call_with_timeout_async(1.0, asyncio.sleep, 0, "done")) == "done"


def test_bulkhead_bounds_concurrency_sync() -> None:
    bulkhead = Bulkhead("solver", max_concurrent=2)
    inside, release = threading.Barrier(3), threading.Event()

    @bulkhead
    def work() -> None:
        inside.wait(timeout=5)
        release.wait(timeout=5)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait(timeout=5)  # both slots are taken now
    with pytest.raises(BulkheadFull, match="all 2 slots busy"):
        work()
    release.set()
    for t in threads:
        t.join(timeout=5)
    assert bulkhead.rejected == 1 and bulkhead.active == 0


def test_bulkhead_bounds_concurrency_async() -> None:
    bulkhead = Bulkhead("api", max_concurrent=2, max_wait=0.01)
    peak = 0

    @bulkhead
    async def work() -> None:
        nonlocal peak
        peak = max(peak, bulkhead.active)
        await asyncio.sleep(0.05)

    async def main() -> list[object]:
        return await asyncio.gather(*(work() for _ in range(5)), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert peak == 2
    assert sum(isinstance(o, BulkheadFull) for o in outcomes) == 3


def test_fallback_answers_for_the_listed_errors_only() -> None:
    @fallback(lambda exc, key: f"cached {key} ({type(exc).__name__})", on=(Boom,))
    def fetch(key: str) -> str:
        if key == "bad":
            raise CallerMistake("no")
        raise Boom("down")

    assert fetch("a") == "cached a (Boom)"
    with pytest.raises(CallerMistake):
        fetch("bad")

    async def handler(exc: BaseException) -> str:
        return "async fallback"

    @fallback(handler, on=(Boom,))
    async def afetch() -> str:
        raise Boom("down")

    assert asyncio.run(afetch()) == "async fallback"


def test_timing_helpers_check_arguments() -> None:
    with pytest.raises(InvalidConfig, match="seconds"):
        call_with_timeout(0, ok)
    with pytest.raises(InvalidConfig, match="max_concurrent"):
        Bulkhead(max_concurrent=0)
    with pytest.raises(InvalidConfig, match="handler"):
        fallback("not callable")  # type: ignore[arg-type]
