"""What a connection proves (SEC 2), as pure rules."""

from __future__ import annotations

import pytest

from csms.domain.security_profiles import ConnectionProof, achieved_profile, check_profile


@pytest.mark.parametrize(
    ("proof", "expected"),
    [
        (ConnectionProof(tls=False, certificate_name=None, key_verified=False), 0),
        (ConnectionProof(tls=False, certificate_name=None, key_verified=True), 1),
        (ConnectionProof(tls=True, certificate_name=None, key_verified=False), 0),
        (ConnectionProof(tls=True, certificate_name=None, key_verified=True), 2),
        (ConnectionProof(tls=True, certificate_name="CP-1", key_verified=False), 3),
        # Another charger's certificate proves nothing for this one; its key still counts.
        (ConnectionProof(tls=True, certificate_name="CP-2", key_verified=False), 0),
        (ConnectionProof(tls=True, certificate_name="CP-2", key_verified=True), 2),
        # A certificate name without TLS cannot happen, and would prove nothing.
        (ConnectionProof(tls=False, certificate_name="CP-1", key_verified=False), 0),
    ],
)
def test_the_profile_a_connection_proves(proof: ConnectionProof, expected: int) -> None:
    assert achieved_profile(proof, "CP-1") == expected


@pytest.mark.parametrize("value", [-1, 4, "2", 2.0, True, None])
def test_only_the_four_profiles_are_accepted(value: object) -> None:
    with pytest.raises(ValueError):
        check_profile(value)


def test_profiles_are_checked_as_given() -> None:
    assert [check_profile(n) for n in range(4)] == [0, 1, 2, 3]
