"""The charger's configuration keys (S 9: Core 9.1, Local Auth List 9.2, Reservation 9.3; SEC).

Values are strings, as GetConfiguration and ChangeConfiguration carry them (S 5.8, 5.3); typed
getters read them. Defaults live in one module-level table shared by every charger and a
:class:`Configuration` stores only what differs, so a fleet of thousands stays small. Keys are
case-insensitive (CiString50).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping

from ocpp.v16.enums import ConfigurationStatus


class Kind(enum.Enum):
    BOOL = "bool"
    INT = "int"
    MEASURANDS = "measurands"  # comma-separated list of measurands
    TEXT = "text"
    SECRET = "secret"  # write-only: never returned by GetConfiguration


@dataclasses.dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    kind: Kind
    default: str
    readonly: bool = False


#: Measurands this charger can sample (what MeterValuesSampledData and friends may list).
SUPPORTED_MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Current.Offered",
    "Voltage",
)
MEASURAND_LIST_MAX = 4

PROFILES = ("Core", "FirmwareManagement", "LocalAuthListManagement", "Reservation",
            "SmartCharging", "RemoteTrigger")
DEFAULT_PROFILES = "Core,Reservation,RemoteTrigger,LocalAuthListManagement"

_SPECS = (
    # S 9.1 Core
    KeySpec("AllowOfflineTxForUnknownId", Kind.BOOL, "false"),
    KeySpec("AuthorizationCacheEnabled", Kind.BOOL, "true"),
    KeySpec("AuthorizeRemoteTxRequests", Kind.BOOL, "false"),
    KeySpec("ClockAlignedDataInterval", Kind.INT, "0"),
    KeySpec("ConnectionTimeOut", Kind.INT, "60"),
    KeySpec("ConnectorPhaseRotation", Kind.TEXT, "0.RST"),
    KeySpec("GetConfigurationMaxKeys", Kind.INT, "64", readonly=True),
    KeySpec("HeartbeatInterval", Kind.INT, "300"),
    KeySpec("LocalAuthorizeOffline", Kind.BOOL, "true"),
    KeySpec("LocalPreAuthorize", Kind.BOOL, "false"),
    KeySpec("MeterValuesAlignedData", Kind.MEASURANDS, "Energy.Active.Import.Register"),
    KeySpec("MeterValuesAlignedDataMaxLength", Kind.INT, str(MEASURAND_LIST_MAX), readonly=True),
    KeySpec("MeterValuesSampledData", Kind.MEASURANDS,
            "Energy.Active.Import.Register,Power.Active.Import"),
    KeySpec("MeterValuesSampledDataMaxLength", Kind.INT, str(MEASURAND_LIST_MAX), readonly=True),
    KeySpec("MeterValueSampleInterval", Kind.INT, "60"),
    KeySpec("NumberOfConnectors", Kind.INT, "1", readonly=True),
    KeySpec("ResetRetries", Kind.INT, "1"),
    KeySpec("StopTransactionOnEVSideDisconnect", Kind.BOOL, "true"),
    KeySpec("StopTransactionOnInvalidId", Kind.BOOL, "true"),
    KeySpec("StopTxnAlignedData", Kind.MEASURANDS, ""),
    KeySpec("StopTxnAlignedDataMaxLength", Kind.INT, str(MEASURAND_LIST_MAX), readonly=True),
    KeySpec("StopTxnSampledData", Kind.MEASURANDS, "Energy.Active.Import.Register"),
    KeySpec("StopTxnSampledDataMaxLength", Kind.INT, str(MEASURAND_LIST_MAX), readonly=True),
    KeySpec("SupportedFeatureProfiles", Kind.TEXT, DEFAULT_PROFILES, readonly=True),
    KeySpec("TransactionMessageAttempts", Kind.INT, "3"),
    KeySpec("TransactionMessageRetryInterval", Kind.INT, "10"),
    KeySpec("UnlockConnectorOnEVSideDisconnect", Kind.BOOL, "true"),
    KeySpec("WebSocketPingInterval", Kind.INT, "0"),
    # S 9.2 Local Auth List Management
    KeySpec("LocalAuthListEnabled", Kind.BOOL, "true"),
    KeySpec("LocalAuthListMaxLength", Kind.INT, "1000", readonly=True),
    KeySpec("SendLocalListMaxLength", Kind.INT, "100", readonly=True),
    # S 9.3 Reservation
    KeySpec("ReserveConnectorZeroSupported", Kind.BOOL, "false", readonly=True),
    # OCPP 1.6 security white paper (SEC, configuration keys)
    KeySpec("AdditionalRootCertificateCheck", Kind.BOOL, "false", readonly=True),
    KeySpec("AuthorizationKey", Kind.SECRET, ""),
    KeySpec("CertificateSignedMaxChainSize", Kind.INT, "10000", readonly=True),
    KeySpec("CertificateStoreMaxLength", Kind.INT, "20", readonly=True),
    KeySpec("CpoName", Kind.TEXT, "csms-sim"),
    KeySpec("SecurityProfile", Kind.INT, "0"),
)
#: SEC: security profiles 0 (none) to 3 (TLS with a client certificate).
MAX_SECURITY_PROFILE = 3
SPECS: Mapping[str, KeySpec] = {spec.name.lower(): spec for spec in _SPECS}

#: SEC: an AuthorizationKey is 16-20 bytes; 40 when written as hex.
AUTHORIZATION_KEY_BYTES = (16, 40)


class UnknownKey(KeyError):
    """No configuration key has this name."""


def spec_for(key: str) -> KeySpec:
    """The spec of ``key`` (any case); raise :class:`UnknownKey` for an unknown key."""
    try:
        return SPECS[key.lower()]
    except KeyError:
        raise UnknownKey(key) from None


class Configuration:
    """One charger's configuration: shared defaults plus this charger's differences."""

    __slots__ = ("_values",)

    def __init__(self, factory: Mapping[str, str] | None = None) -> None:
        """``factory`` sets keys as the manufacturer would, read-only ones included.

        Raises :class:`UnknownKey` or :class:`ValueError` for a key or value that cannot be set.
        """
        self._values: dict[str, str] = {}
        for key, value in (factory or {}).items():
            spec = spec_for(key)
            if (spec.kind is not Kind.SECRET and not _valid(spec, value)) or (
                    spec.name == "SecurityProfile" and int(value) > MAX_SECURITY_PROFILE):
                raise ValueError(f"invalid value for {spec.name}: {value!r}")
            self._values[spec.name] = value

    def get(self, key: str) -> str:
        spec = spec_for(key)
        return self._values.get(spec.name, spec.default)

    def get_int(self, key: str) -> int:
        return int(self.get(key))

    def get_bool(self, key: str) -> bool:
        return self.get(key).strip().lower() == "true"

    def get_list(self, key: str) -> list[str]:
        """A comma-separated value as a list; blanks after commas are tolerated."""
        return [item.strip() for item in self.get(key).split(",") if item.strip()]

    def set_factory(self, key: str, value: str) -> None:
        """Set ``key`` without the read-only check (what the charger itself may do)."""
        self._values[spec_for(key).name] = value

    def change(self, key: str, value: str) -> ConfigurationStatus:
        """Apply a ChangeConfiguration (S 5.3) and return its status.

        Unknown key → NotSupported; read-only key or a value of the wrong shape → Rejected.
        A SecurityProfile can only be raised, up to 3 (SEC use case A05, OCTT TC_084).
        """
        try:
            spec = spec_for(key)
        except UnknownKey:
            return ConfigurationStatus.not_supported
        if spec.readonly or not _valid(spec, value):
            return ConfigurationStatus.rejected
        if spec.name == "SecurityProfile" and not (
                self.get_int("SecurityProfile") <= int(value) <= MAX_SECURITY_PROFILE):
            return ConfigurationStatus.rejected
        self._values[spec.name] = value.strip() if spec.kind is not Kind.SECRET else value
        return ConfigurationStatus.accepted

    def read(self, keys: Iterable[str] | None) -> tuple[list[dict[str, object]], list[str]]:
        """Answer a GetConfiguration (S 5.8): (configurationKey entries, unknownKey names).

        With no keys, every key is listed. Secrets are listed without a value.
        """
        if not keys:
            specs = list(_SPECS)
            unknown: list[str] = []
        else:
            specs, unknown = [], []
            for key in keys:
                spec = SPECS.get(key.lower())
                if spec is None:
                    unknown.append(key)
                else:
                    specs.append(spec)
        return [self._entry(spec) for spec in specs], unknown

    def _entry(self, spec: KeySpec) -> dict[str, object]:
        entry: dict[str, object] = {"key": spec.name, "readonly": spec.readonly}
        if spec.kind is not Kind.SECRET:
            entry["value"] = self._values.get(spec.name, spec.default)
        return entry


def _valid(spec: KeySpec, value: str) -> bool:
    if not isinstance(value, str) or len(value) > 500:
        return False
    text = value.strip()
    if spec.kind is Kind.BOOL:
        return text.lower() in ("true", "false")
    if spec.kind is Kind.INT:
        return text.isdigit() and int(text) <= 2**31 - 1
    if spec.kind is Kind.MEASURANDS:
        items = [item.strip() for item in text.split(",") if item.strip()]
        return len(items) <= MEASURAND_LIST_MAX and all(i in SUPPORTED_MEASURANDS for i in items)
    if spec.kind is Kind.SECRET:
        low, high = AUTHORIZATION_KEY_BYTES
        return low <= len(value.encode()) <= high and value.isprintable()
    return True
