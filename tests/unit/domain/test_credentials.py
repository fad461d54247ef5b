from __future__ import annotations

from csms.domain.credentials import ScryptCost, hash_secret, verify_secret

CHEAP = ScryptCost(n=2**4)


def test_right_secret_verifies() -> None:
    stored = hash_secret("0123456789abcdef", CHEAP)
    assert verify_secret("0123456789abcdef", stored)


def test_wrong_secret_does_not() -> None:
    stored = hash_secret("0123456789abcdef", CHEAP)
    assert not verify_secret("0123456789abcdeF", stored)
    assert not verify_secret("", stored)


def test_same_secret_hashes_differently_each_time() -> None:
    assert hash_secret("secret-secret", CHEAP) != hash_secret("secret-secret", CHEAP)


def test_hash_does_not_contain_the_secret() -> None:
    assert "0123456789abcdef" not in hash_secret("0123456789abcdef", CHEAP)


def test_garbage_hash_never_verifies() -> None:
    for stored in ["", "plain", "scrypt$x$8$1$00$00", "bcrypt$1$2$3$4$5"]:
        assert not verify_secret("anything", stored)
