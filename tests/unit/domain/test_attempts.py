"""Brute-force protection: too many wrong codes at one charger lock it for a while."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.attempts import WrongCodeLimiter

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_defaults() -> None:
    limiter = WrongCodeLimiter()
    assert (limiter.max_failures, limiter.window) == (5, timedelta(minutes=5))


def test_locks_after_max_failures_within_the_window() -> None:
    limiter = WrongCodeLimiter(max_failures=3, window=timedelta(minutes=5))
    assert not limiter.locked("CP1", T0)
    limiter.record_failure("CP1", T0)
    limiter.record_failure("CP1", T0 + 10 * SECOND)
    assert not limiter.locked("CP1", T0 + 20 * SECOND)
    limiter.record_failure("CP1", T0 + 20 * SECOND)
    assert limiter.locked("CP1", T0 + 20 * SECOND)
    assert limiter.locked("CP1", T0 + timedelta(minutes=5) - timedelta(microseconds=1))


def test_unlocks_when_failures_age_out() -> None:
    limiter = WrongCodeLimiter(max_failures=3, window=timedelta(minutes=5))
    for n in range(3):
        limiter.record_failure("CP1", T0 + n * 10 * SECOND)
    assert limiter.locked("CP1", T0 + timedelta(minutes=4))
    # At T0 + 5 min the first failure is exactly a window old: it no longer counts.
    assert not limiter.locked("CP1", T0 + timedelta(minutes=5))
    # One more failure locks again: the other two still count.
    limiter.record_failure("CP1", T0 + timedelta(minutes=5))
    assert limiter.locked("CP1", T0 + timedelta(minutes=5))
    assert not limiter.locked("CP1", T0 + timedelta(minutes=5, seconds=10))


def test_failures_spread_wider_than_the_window_never_lock() -> None:
    limiter = WrongCodeLimiter(max_failures=3, window=timedelta(minutes=5))
    for n in range(20):
        now = T0 + n * timedelta(minutes=2, seconds=31)
        limiter.record_failure("CP1", now)
        assert not limiter.locked("CP1", now)


def test_is_per_charger() -> None:
    limiter = WrongCodeLimiter(max_failures=2, window=timedelta(minutes=5))
    limiter.record_failure("CP1", T0)
    limiter.record_failure("CP2", T0)
    assert not limiter.locked("CP1", T0)
    assert not limiter.locked("CP2", T0)
    limiter.record_failure("CP1", T0 + SECOND)
    assert limiter.locked("CP1", T0 + SECOND)
    assert not limiter.locked("CP2", T0 + SECOND)
    assert not limiter.locked("CP3", T0 + SECOND)


def test_limiters_do_not_share_state() -> None:
    a, b = WrongCodeLimiter(max_failures=1), WrongCodeLimiter(max_failures=1)
    a.record_failure("CP1", T0)
    assert a.locked("CP1", T0)
    assert not b.locked("CP1", T0)


def test_memory_is_bounded() -> None:
    limiter = WrongCodeLimiter(max_failures=5, window=timedelta(minutes=5))
    # A guesser hammering one charger: only the last max_failures attempts are kept.
    for n in range(10_000):
        limiter.record_failure("CP1", T0 + n * timedelta(milliseconds=10))
    assert len(limiter._failures["CP1"]) == 5
    assert limiter.locked("CP1", T0 + timedelta(seconds=100))
    # A charger whose failures have aged out is forgotten once asked about.
    later = T0 + timedelta(hours=1)
    assert not limiter.locked("CP1", later)
    assert "CP1" not in limiter._failures
    # Nobody asked about is not remembered.
    assert not limiter.locked("CP-unknown", later)
    assert "CP-unknown" not in limiter._failures


@settings(max_examples=100, deadline=None)
@given(
    max_failures=st.integers(1, 6),
    window_seconds=st.integers(1, 600),
    events=st.lists(
        st.tuples(st.sampled_from(["CP1", "CP2"]), st.integers(0, 300), st.booleans()),
        max_size=60,
    ),
)
def test_locked_iff_max_failures_in_the_last_window(
    max_failures: int, window_seconds: int, events: list[tuple[str, int, bool]]
) -> None:
    """Events in time order: (charger, seconds since the previous event, is a failure)."""
    window = timedelta(seconds=window_seconds)
    limiter = WrongCodeLimiter(max_failures=max_failures, window=window)
    history: dict[str, list[datetime]] = {"CP1": [], "CP2": []}
    now = T0
    for charger, gap, failure in events:
        now += timedelta(seconds=gap)
        if failure:
            limiter.record_failure(charger, now)
            history[charger].append(now)
        for cp, times in history.items():
            recent = [t for t in times if t > now - window]
            assert limiter.locked(cp, now) == (len(recent) >= max_failures)
            assert len(limiter._failures.get(cp, ())) <= max_failures
