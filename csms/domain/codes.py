"""Booking codes: random, numeric (any keypad has digits), not trivially guessable."""

from __future__ import annotations

import itertools
import secrets

CODE_LENGTH = 6


def generate_code(length: int = CODE_LENGTH) -> str:
    """A random code of ``length`` digits that is neither one repeated digit nor a run."""
    while True:
        code = "".join(str(secrets.randbelow(10)) for _ in range(length))
        if not _trivial(code):
            return code


def _trivial(code: str) -> bool:
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(code)}
    return steps in ({0}, {1}, {9})
