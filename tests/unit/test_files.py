"""The pure rules of firmware and diagnostics files (csms.services.files) and their settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csms.errors import ConfigurationError, ValidationFailed
from csms.services.files import (
    DIAGNOSTICS_FINAL,
    FIRMWARE_FINAL,
    NAME_PATTERN,
    check_name,
    diagnostics_location,
    firmware_location,
    kept_statuses,
    neutral_name,
    new_token,
)
from csms.settings import Settings


@pytest.mark.parametrize("name", ["fw-1.2.3.bin", "A", "image_v2+hotfix~1.tar.gz", "x" * 200])
def test_safe_names_are_kept(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "a\x00b", "x" * 201, "fw 1.bin", "ü.bin"],
)
def test_names_that_could_be_paths_are_refused(name: str) -> None:
    with pytest.raises(ValidationFailed):
        check_name(name)


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (["diag.log"], "diag.log"),
        (["../../etc/passwd"], "passwd"),
        (["C:\\logs\\diag 1.zip"], "diag_1.zip"),
        ([None, "", "from-form.log"], "from-form.log"),
        (["..", "/", ".\x00"], "fallback-1"),
        ([".bashrc"], "bashrc"),
        (["x" * 300], "x" * 200),
    ],
)
def test_chargers_names_are_neutralised(candidates: list[str | None], expected: str) -> None:
    assert neutral_name(candidates, "fallback-1") == expected


@given(st.lists(st.one_of(st.none(), st.text()), max_size=4))
def test_a_neutral_name_is_always_safe(candidates: list[str | None]) -> None:
    name = neutral_name(candidates, "fallback")
    assert NAME_PATTERN.fullmatch(name)
    assert check_name(name) == name


def test_locations() -> None:
    token = new_token()
    assert len(token) == 32 and token != new_token()
    assert (
        firmware_location("https://csms.example:9443", token, "fw.bin")
        == f"https://csms.example:9443/ocpp-files/firmware/{token}/fw.bin"
    )
    assert diagnostics_location("http://h:9000", "t") == "http://h:9000/ocpp-files/diagnostics/t/"


def test_idle_never_replaces_a_final_status() -> None:
    # S 4.4/4.5: Idle is only sent when triggered; it says nothing about a finished transfer.
    assert kept_statuses("Idle", FIRMWARE_FINAL) == FIRMWARE_FINAL
    assert kept_statuses("Idle", DIAGNOSTICS_FINAL) == DIAGNOSTICS_FINAL
    assert kept_statuses("Downloading", FIRMWARE_FINAL) == ()


def test_files_base_url() -> None:
    assert Settings(host="10.0.0.5", ocpp_port=9000).files_base() == "http://10.0.0.5:9000"
    assert Settings(host="::1", ocpp_port=9000).files_base() == "http://[::1]:9000"
    tls = Settings(tls_cert=Path("/c.pem"), tls_key=Path("/k.pem"), ocpp_port=9443)
    assert tls.files_base() == "https://127.0.0.1:9443"
    configured = Settings.from_env({"CSMS_FILES_BASE_URL": "https://files.example/csms/"})
    assert configured.files_base() == "https://files.example/csms"
    assert Settings.from_env({}).max_file_bytes == 256 * 1024 * 1024


@pytest.mark.parametrize(
    "env",
    [
        {"CSMS_FILES_BASE_URL": "ftp://files.example"},
        {"CSMS_FILES_BASE_URL": "https://"},
        {"CSMS_FILES_BASE_URL": "https://files.example/?x=1"},
        {"CSMS_FILES_BASE_URL": "http://[::1"},
        {"CSMS_MAX_FILE_BYTES": "0"},
    ],
)
def test_bad_file_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="CSMS_"):
        Settings.from_env(env)
