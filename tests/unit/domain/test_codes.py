"""Booking codes: six random digits, never one repeated digit nor a run."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator

import pytest

from csms.domain.codes import CODE_LENGTH, generate_code


def is_trivial(code: str) -> bool:
    """One digit repeated, or every next digit one up (or one down), wrapping 9-0."""
    digits = [int(c) for c in code]
    steps = {(b - a) % 10 for a, b in itertools.pairwise(digits)}
    return steps in ({0}, {1}, {9})


TRIVIAL = ["000000", "777777", "123456", "987654", "890123", "210987", "012345", "543210", "901234"]


@pytest.mark.parametrize("code", TRIVIAL)
def test_what_counts_as_trivial(code: str) -> None:
    # Guards the reference used below: these are the codes no driver should be given.
    assert is_trivial(code)


def test_codes_are_six_digits_and_never_trivial() -> None:
    assert CODE_LENGTH == 6
    seen = [generate_code() for _ in range(3000)]
    for code in seen:
        assert len(code) == 6
        assert code.isdigit() and code.isascii()
        assert not is_trivial(code), code
    assert len(set(seen)) > 2900  # random, not a constant or a short cycle
    # Every digit appears in every position (uniform enough to not favour a keypad corner).
    for position in range(6):
        assert {code[position] for code in seen} == set("0123456789")


def test_other_lengths() -> None:
    for length in (4, 8, 20):
        code = generate_code(length)
        assert len(code) == length and code.isdigit()
        assert not is_trivial(code)


def _feed(monkeypatch: pytest.MonkeyPatch, digits: str) -> Iterator[int]:
    stream = iter(int(d) for d in digits)
    monkeypatch.setattr(secrets, "randbelow", lambda n: next(stream))
    return stream


@pytest.mark.parametrize("trivial", TRIVIAL)
def test_a_trivial_draw_is_thrown_away(monkeypatch: pytest.MonkeyPatch, trivial: str) -> None:
    stream = _feed(monkeypatch, trivial + "123457" + "999999")
    assert generate_code() == "123457"
    assert next(stream) == 9  # it stopped drawing after the first good code


@pytest.mark.parametrize("code", ["123457", "112233", "135792", "000001", "989898", "024680"])
def test_near_misses_are_kept(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    _feed(monkeypatch, code)
    assert generate_code() == code
