"""Configuration keys (S 9, S 5.3, S 5.8) — pure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.configuration import SPECS, Configuration, Kind


def test_defaults_and_typed_reads() -> None:
    config = Configuration()
    assert config.get_int("HeartbeatInterval") == 300
    assert config.get_bool("StopTransactionOnInvalidId") is True
    assert config.get_bool("ReserveConnectorZeroSupported") is False
    assert config.get_list("MeterValuesSampledData") == [
        "Energy.Active.Import.Register",
        "Power.Active.Import",
    ]


def test_keys_are_case_insensitive() -> None:
    config = Configuration()
    assert config.change("heartbeatinterval", "42") == "Accepted"
    assert config.get("HEARTBEATINTERVAL") == "42"
    entries, unknown = config.read(["HeartBeatInterval"])
    assert entries == [{"key": "HeartbeatInterval", "readonly": False, "value": "42"}]
    assert unknown == []


@pytest.mark.parametrize(
    ("key", "value", "status"),
    [
        ("HeartbeatInterval", "10", "Accepted"),
        ("HeartbeatInterval", "-1", "Rejected"),
        ("HeartbeatInterval", "ten", "Rejected"),
        ("StopTransactionOnInvalidId", "FALSE", "Accepted"),
        ("StopTransactionOnInvalidId", "maybe", "Rejected"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Voltage", "Accepted"),
        ("MeterValuesSampledData", "Temperature", "Rejected"),
        ("MeterValuesSampledData", "Voltage,Voltage,Voltage,Voltage,Voltage", "Rejected"),
        ("SupportedFeatureProfiles", "Core", "Rejected"),  # read-only
        ("ReserveConnectorZeroSupported", "true", "Rejected"),  # read-only
        ("NumberOfConnectors", "4", "Rejected"),
        ("NoSuchKey", "1", "NotSupported"),
        ("AuthorizationKey", "0123456789abcdef", "Accepted"),
        ("AuthorizationKey", "short", "Rejected"),
        ("SecurityProfile", "1", "Accepted"),
    ],
)
def test_change_configuration(key: str, value: str, status: str) -> None:
    assert Configuration().change(key, value) == status


def test_security_profile_only_goes_up() -> None:
    config = Configuration({"SecurityProfile": "2"})
    assert config.change("SecurityProfile", "1") == "Rejected"
    assert config.change("SecurityProfile", "3") == "Accepted"


def test_get_configuration_lists_everything_and_hides_secrets() -> None:
    config = Configuration({"AuthorizationKey": "0123456789abcdef"})
    entries, unknown = config.read(None)
    names = {entry["key"] for entry in entries}
    assert names == {spec.name for spec in SPECS.values()}
    secret = next(entry for entry in entries if entry["key"] == "AuthorizationKey")
    assert "value" not in secret
    assert unknown == []
    assert config.get("AuthorizationKey") == "0123456789abcdef"


def test_unknown_keys_are_listed_apart() -> None:
    entries, unknown = Configuration().read(["HeartbeatInterval", "Bogus"])
    assert [entry["key"] for entry in entries] == ["HeartbeatInterval"]
    assert unknown == ["Bogus"]


def test_factory_settings_may_set_read_only_keys_but_not_nonsense() -> None:
    assert Configuration({"ReserveConnectorZeroSupported": "true"}).get_bool(
        "ReserveConnectorZeroSupported"
    )
    with pytest.raises(ValueError):
        Configuration({"HeartbeatInterval": "soon"})
    with pytest.raises(KeyError):
        Configuration({"Bogus": "1"})


def test_configuration_stores_only_differences() -> None:
    config = Configuration()
    assert config._values == {}
    config.change("HeartbeatInterval", "5")
    assert config._values == {"HeartbeatInterval": "5"}


int_keys = [spec.name for spec in SPECS.values() if spec.kind is Kind.INT and not spec.readonly]


@given(st.sampled_from(int_keys), st.integers(0, 2**31 - 1))
def test_any_non_negative_int32_is_accepted_for_int_keys(key: str, value: int) -> None:
    config = Configuration()
    if key == "SecurityProfile":
        return
    assert config.change(key, str(value)) == "Accepted"
    assert config.get_int(key) == value


@given(st.sampled_from(int_keys), st.text(max_size=12).filter(lambda s: not s.strip().isdigit()))
def test_non_numbers_are_rejected_for_int_keys(key: str, value: str) -> None:
    config = Configuration()
    before = config.get(key)
    assert config.change(key, value) == "Rejected"
    assert config.get(key) == before
