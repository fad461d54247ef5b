from __future__ import annotations

from pathlib import Path

import pytest

from csms.errors import ConfigurationError
from csms.settings import Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert (settings.http_port, settings.ocpp_port) == (8080, 9000)
    assert settings.data_dir == Path(".csms")
    assert settings.auto_register is False


def test_read_from_environment() -> None:
    settings = Settings.from_env(
        {
            "CSMS_DATABASE_URL": "postgresql://db/csms",
            "CSMS_HTTP_PORT": "8000",
            "CSMS_OCPP_PORT": "8000",
            "CSMS_AUTO_REGISTER": "yes",
            "CSMS_CALL_TIMEOUT": "2.5",
            "CSMS_DATA_DIR": "/var/lib/csms",
            "UNRELATED": "x",
        }
    )
    assert settings.database_url == "postgresql://db/csms"
    assert settings.http_port == settings.ocpp_port == 8000
    assert settings.auto_register is True
    assert settings.call_timeout == 2.5
    assert settings.data_dir == Path("/var/lib/csms")


def test_overrides_win() -> None:
    assert Settings.from_env({"CSMS_HTTP_PORT": "1"}, http_port=2).http_port == 2


@pytest.mark.parametrize(
    "env",
    [
        {"CSMS_HTTP_PORT": "eighty"},
        {"CSMS_HTTP_PORT": "70000"},
        {"CSMS_AUTO_REGISTER": "maybe"},
        {"CSMS_TLS_CERT": "/cert.pem"},
        {"CSMS_TLS_CLIENT_CA": "/ca.pem"},
        {"CSMS_DB_POOL_MIN": "5", "CSMS_DB_POOL_MAX": "2"},
    ],
)
def test_bad_settings_are_refused_with_their_name(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    assert "CSMS_" in str(caught.value)
