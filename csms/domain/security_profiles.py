"""OCPP 1.6 security profiles (SEC section 2): what a connection proves, and what a charger
registered at a profile may use.

- 0: no security (plain WebSocket, no credentials) — test benches and closed networks only;
- 1: HTTP Basic auth (the charger's AuthorizationKey) over plain WebSocket;
- 2: HTTP Basic auth over TLS, the server authenticated by its certificate;
- 3: TLS with a client certificate: the charger authenticated by its certificate.

A charger is registered with the lowest profile it may connect with; a connection that proves
less is refused. Raising the profile follows SEC's migration: the charger is told the new
profile (ChangeConfiguration SecurityProfile), reconnects with it, and only a connection that
proved the new profile makes it the registered one — until then the charger may fall back to
the old profile (SEC: "the Charge Point SHALL fall back to the previous profile").
"""

from __future__ import annotations

import dataclasses

PROFILES = range(0, 4)


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionProof:
    """What a connection proved at the handshake."""

    tls: bool
    #: The Common Name of a client certificate the TLS layer verified, if any.
    certificate_name: str | None
    #: Whether it presented the charger's AuthorizationKey (Basic auth) and it matched.
    key_verified: bool


def achieved_profile(proof: ConnectionProof, charge_point_id: str) -> int:
    """The highest profile this connection meets for ``charge_point_id``.

    >>> achieved_profile(ConnectionProof(True, "CP-1", False), "CP-1")
    3
    >>> achieved_profile(ConnectionProof(True, "CP-2", True), "CP-1")  # someone else's cert
    2
    >>> achieved_profile(ConnectionProof(False, None, True), "CP-1")
    1
    """
    if proof.tls and proof.certificate_name == charge_point_id:
        return 3  # SEC 2.3: the certificate's subject names the charger.
    if proof.key_verified:
        return 2 if proof.tls else 1
    return 0


def check_profile(value: object) -> int:
    """A profile number from input (0-3), or ValueError."""
    if type(value) is not int or value not in PROFILES:
        raise ValueError("security_profile must be 0, 1, 2 or 3")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class ServedSecurity:
    """What this deployment offers chargers: TLS, and client certificates verified."""

    tls: bool = False
    client_ca: bool = False


def prerequisite(profile: int, *, has_key: bool, tls: bool, client_ca: bool) -> str | None:
    """Why a charger could not connect at ``profile``, or None (SEC 2, 3.1): ``has_key`` it has
    an AuthorizationKey, csms serves ``tls`` and verifies client certificates (``client_ca``)."""
    if profile in (1, 2) and not has_key:
        return "set an AuthorizationKey first: profiles 1 and 2 authenticate with it"
    if profile >= 2 and not tls:
        return "csms serves no TLS (CSMS_TLS_CERT): profiles 2 and 3 need it"
    if profile == 3 and not client_ca:
        return "csms verifies no client certificates (CSMS_TLS_CLIENT_CA): profile 3 needs it"
    return None


def registration_profile(requested: int | None, *, has_key: bool) -> int:
    """The profile a charger is registered at: the one asked for, else 1 with a key (it must
    present it) and 0 without."""
    if requested is not None:
        return requested
    return 1 if has_key else 0
