"""Abuse limits, pure: token buckets, open-at-once caps and the sign-in policy, on a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csms.domain.rate_limits import (
    OpenLimit,
    Rate,
    SignInLimits,
    TokenBucket,
    account_key,
    address_key,
    enforce,
)
from csms.errors import RateLimited

T0 = 1_000_000.0


def test_a_burst_of_limit_then_retry_after_the_time_one_token_takes() -> None:
    bucket = TokenBucket(Rate.per_minute(3))
    assert [bucket.take("a", T0) for _ in range(3)] == [0, 0, 0]
    assert bucket.take("a", T0) == 20  # one token per 20 s
    assert bucket.take("b", T0) == 0  # keys are independent


def test_refill_lets_the_next_one_through_exactly_when_retry_after_said() -> None:
    bucket = TokenBucket(Rate.per_minute(3))
    for _ in range(3):
        bucket.take("a", T0)
    assert bucket.take("a", T0 + 19) == 1
    assert bucket.take("a", T0 + 20) == 0
    assert bucket.take("a", T0 + 20) == 20
    # A long pause refills to the burst size, never beyond.
    assert [bucket.take("a", T0 + 3600) for _ in range(4)] == [0, 0, 0, 20]


def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one() -> None:
    bucket = TokenBucket(Rate.per_minute(7))  # one token per 8.57 s
    for _ in range(7):
        bucket.take("a", T0)
    assert bucket.take("a", T0) == 9
    assert bucket.take("a", T0 + 8.5) == 1
    assert bucket.wait("a", T0 + 8.58) == 0


def test_refused_takes_cost_nothing() -> None:
    bucket = TokenBucket(Rate.per_minute(1))
    bucket.take("a", T0)
    for second in range(59):
        assert bucket.take("a", T0 + second) == 60 - second
    assert bucket.take("a", T0 + 60) == 0


def test_a_clock_stepping_back_refills_nothing() -> None:
    bucket = TokenBucket(Rate.per_minute(2))
    bucket.take("a", T0)
    bucket.take("a", T0)
    assert bucket.take("a", T0 - 3600) == 30
    assert bucket.level("a", T0 - 3600) == 0


def test_cost_and_rate_are_checked() -> None:
    bucket = TokenBucket(Rate.per_minute(2))
    assert bucket.take("a", T0, cost=2) == 0
    with pytest.raises(ValueError):
        bucket.take("a", T0, cost=3)  # could never succeed: a caller's bug
    with pytest.raises(ValueError):
        bucket.take("a", T0, cost=0)
    with pytest.raises(ValueError):
        Rate(0, 60)
    with pytest.raises(ValueError):
        Rate(1, 0)


def test_give_back_never_exceeds_the_limit_and_a_full_bucket_is_forgotten() -> None:
    bucket = TokenBucket(Rate.per_hour(2))
    bucket.take("a", T0)
    assert len(bucket) == 1
    bucket.give_back("a", T0, amount=5)
    assert len(bucket) == 0 and bucket.level("a", T0) == 2
    bucket.give_back("never-seen", T0)
    assert len(bucket) == 0


def test_memory_stays_bounded_whatever_keys_come() -> None:
    bucket = TokenBucket(Rate.per_minute(5), max_keys=100)
    for n in range(10_000):
        assert bucket.take(f"attacker-{n}", T0 + n / 1000) == 0
    assert len(bucket) == 100
    # What is forgotten is what was charged longest ago: the newest keys are still counted.
    assert bucket.level("attacker-9999", T0 + 10) < 5
    assert bucket.level("attacker-0", T0 + 10) == 5


def test_refilled_buckets_are_dropped_when_charged_again() -> None:
    bucket = TokenBucket(Rate.per_minute(1))
    bucket.take("a", T0)
    bucket.take("b", T0)
    bucket.give_back("a", T0 + 120)  # refilled meanwhile: nothing left to remember
    assert len(bucket) == 1


@given(
    limit=st.integers(1, 20),
    steps=st.lists(st.floats(0, 30, allow_nan=False), min_size=1, max_size=200),
)
def test_never_more_than_the_burst_plus_what_time_refilled(limit: int, steps: list[float]) -> None:
    rate = Rate.per_minute(limit)
    bucket = TokenBucket(rate)
    now, taken = T0, 0
    for step in steps:
        now += step
        wait = bucket.take("k", now)
        if wait == 0:
            taken += 1
        else:
            # Retry-After is honest: not a second early, and enough.
            assert bucket.wait("k", now + wait) == 0
            if wait > 1:
                assert bucket.wait("k", now + wait - 1) > 0
        assert taken <= limit + (now - T0) * limit / rate.period + 1e-9


def test_enforce_raises_rate_limited_with_retry_after() -> None:
    bucket = TokenBucket(Rate.per_hour(1))
    enforce(bucket, "u", T0, "bookings")
    with pytest.raises(RateLimited) as refused:
        enforce(bucket, "u", T0 + 600, "bookings")
    assert refused.value.retry_after == 3000
    assert refused.value.code == "rate_limited"
    assert "bookings" in refused.value.message and "3000" in refused.value.message


def test_open_limit_counts_what_is_open_per_key() -> None:
    streams = OpenLimit(2)
    assert streams.acquire("t") and streams.acquire("t")
    assert not streams.acquire("t")
    assert streams.acquire("other")
    streams.release("t")
    assert streams.open("t") == 1 and streams.acquire("t")
    for _ in range(2):
        streams.release("t")
    streams.release("other")
    assert len(streams) == 0  # nothing open, nothing remembered
    with pytest.raises(ValueError):
        OpenLimit(0)


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # same /64: same client
        ("::ffff:203.0.113.7", "203.0.113.7"),
        (None, "unknown"),
        ("", "unknown"),
        ("not an address", "not an address"),
    ],
)
def test_address_key(remote: str | None, key: str) -> None:
    assert address_key(remote) == key


def test_account_key_ignores_case_and_spaces_and_bounds_length() -> None:
    assert account_key(" Ann@Example.COM ") == "ann@example.com"
    assert account_key("x" * 10_000) == "x" * 254


def limits(per_address: Rate | None = None) -> SignInLimits:
    return SignInLimits(
        per_address=per_address or Rate.per_minute(10),
        failures_per_pair=Rate.per_hour(3),
        failures_per_account=Rate.per_hour(6),
        known_for=86400.0,
    )


def guess(rules: SignInLimits, email: str, address: str, now: float) -> int:
    """A failed attempt: 0 if it was admitted, else the Retry-After."""
    try:
        rules.admit(email, address, now)
    except RateLimited as refused:
        return refused.retry_after
    return 0


def sign_in(rules: SignInLimits, email: str, address: str, now: float) -> None:
    rules.succeeded(rules.admit(email, address, now), now)


def test_every_attempt_counts_against_the_address_even_successful_ones() -> None:
    rules = limits(per_address=Rate.per_minute(2))
    sign_in(rules, "ann@example.com", "198.51.100.1", T0)
    sign_in(rules, "ann@example.com", "198.51.100.1", T0)
    with pytest.raises(RateLimited) as refused:
        sign_in(rules, "ann@example.com", "198.51.100.1", T0)
    assert refused.value.retry_after == 30 and "address" in refused.value.message


def test_a_guesser_is_stopped_but_the_owner_elsewhere_is_not() -> None:
    rules = limits()
    assert [guess(rules, "ANN@example.com", "198.51.100.66", T0) for _ in range(3)] == [0, 0, 0]
    assert guess(rules, "ann@example.com", "198.51.100.66", T0) == 1200  # 3 per hour
    # The guesser's address may still try other accounts (within its own address budget)...
    assert guess(rules, "bob@example.com", "198.51.100.66", T0) == 0
    # ...and the owner, from another address they never used, signs in.
    sign_in(rules, "ann@example.com", "192.0.2.10", T0)


def test_successes_are_given_back_so_an_owner_who_signs_in_often_is_never_refused() -> None:
    rules = limits()
    for n in range(100):
        sign_in(rules, "ann@example.com", "192.0.2.10", T0 + 10 * n)
    assert guess(rules, "ann@example.com", "192.0.2.10", T0 + 1000) == 0


def test_one_address_alone_cannot_drain_the_account_budget() -> None:
    rules = limits()
    for hour in range(48):  # a patient guesser, all it may
        while guess(rules, "ann@example.com", "198.51.100.66", T0 + hour * 3600) == 0:
            pass
        assert guess(rules, "ann@example.com", "192.0.2.10", T0 + hour * 3600) == 0


def test_many_guessing_addresses_slow_new_addresses_but_not_the_owners_known_one() -> None:
    rules = limits()
    sign_in(rules, "ann@example.com", "192.0.2.10", T0)  # her home address, now known
    for n in range(6):
        assert guess(rules, "ann@example.com", f"198.51.100.{n}", T0) == 0
    refused = guess(rules, "ann@example.com", "203.0.113.9", T0)
    assert refused == 600  # 6 per hour: one more in 10 minutes
    sign_in(rules, "ann@example.com", "192.0.2.10", T0)
    assert guess(rules, "ann@example.com", "203.0.113.9", T0 + 600) == 0


def test_a_known_address_is_forgotten_after_known_for() -> None:
    rules = limits()
    sign_in(rules, "ann@example.com", "192.0.2.10", T0)
    later = T0 + 86400
    for n in range(6):
        guess(rules, "ann@example.com", f"198.51.100.{n}", later)
    assert guess(rules, "ann@example.com", "192.0.2.10", later) > 0


def test_a_refused_attempt_charges_nothing() -> None:
    rules = limits(per_address=Rate.per_minute(3))
    for _ in range(3):
        guess(rules, "ann@example.com", "198.51.100.66", T0)
    for _ in range(50):
        assert guess(rules, "ann@example.com", "198.51.100.66", T0) > 0
    # The refusals took nothing from the other buckets: a fresh address is unaffected.
    assert guess(rules, "ann@example.com", "192.0.2.10", T0) == 0


def test_sign_in_memory_stays_bounded() -> None:
    rules = SignInLimits(
        per_address=Rate.per_minute(10),
        failures_per_pair=Rate.per_hour(3),
        failures_per_account=Rate.per_hour(6),
        max_keys=50,
    )
    for n in range(5000):
        guess(rules, f"user-{n}@example.com", f"10.0.{n // 256}.{n % 256}", T0)
        if n % 7 == 0:
            sign_in(rules, f"user-{n}@example.com", f"10.0.{n // 256}.{n % 256}", T0)
    assert len(rules) <= 4 * 50
