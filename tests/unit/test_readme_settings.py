"""The README's settings table lists every ``CSMS_`` variable csms or csms-sim reads, each once,
with the default the code really has."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from csms.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
#: Defaults the table describes in words because they are computed at start.
COMPUTED = {
    "CSMS_NODE_ID": "host-pid",
    "CSMS_FILES_BASE_URL": "http(s)://CSMS_HOST:CSMS_OCPP_PORT",
}
#: ``os.environ.get("CSMS_…")`` and the like, outside csms.settings (csms-sim's own variables).
ENVIRONMENT_READ = re.compile(r"""(?:environ(?:\.get)?|getenv)\s*[(\[]\s*["'](CSMS_[A-Z0-9_]+)""")


def settings_table() -> dict[str, list[str]]:
    """Variable → its documented defaults (one per name of a row naming several)."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| variable | default | meaning |")
    rows: dict[str, list[str]] = {}
    for line in readme[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        variables, defaults = (cell.strip() for cell in line.strip("|").split(" | ")[:2])
        names = re.findall(r"`(CSMS_[A-Z0-9_]+)`", variables)
        values = re.findall(r"`([^`]*)`", defaults) or [defaults]  # `2`, `10` or unset
        if len(values) == 1:
            values *= len(names)  # one default for every variable of the row
        assert len(values) == len(names), f"one default per variable: {line}"
        for name, value in zip(names, values, strict=True):
            assert name not in rows, f"{name} is in the table twice"
            rows[name] = [value]
    return rows


def read_elsewhere() -> set[str]:
    """``CSMS_`` variables read from the environment outside :class:`Settings`."""
    names = set()
    for package in ("csms", "simulators"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name != "settings.py":
                names.update(ENVIRONMENT_READ.findall(path.read_text()))
    return names


def documented(default: Any) -> str:
    """How the table writes a default."""
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def test_every_setting_is_in_the_table_once() -> None:
    table = settings_table()
    fields = {f"CSMS_{field.name.upper()}" for field in dataclasses.fields(Settings)}
    wanted = fields | read_elsewhere()
    assert sorted(wanted - table.keys()) == [], "missing from the README's settings table"
    assert sorted(table.keys() - wanted) == [], "in the table but read by nothing"


def test_every_documented_default_is_the_code_default() -> None:
    table = settings_table()
    wrong = {}
    for field in dataclasses.fields(Settings):
        name = f"CSMS_{field.name.upper()}"
        [shown] = table.get(name, ["(missing)"])
        if name in COMPUTED:
            expected = COMPUTED[name]
        elif field.default is dataclasses.MISSING:
            expected = "(computed: add it to COMPUTED)"
        else:
            expected = documented(field.default)
        if shown != expected and not _same_number(shown, field.default):
            wrong[name] = (shown, expected)
    assert wrong == {}, "README default differs from csms.settings (documented, actual)"


def test_csms_sim_variables_are_documented_unset() -> None:
    table = settings_table()
    assert {name: table.get(name) for name in read_elsewhere()} == {
        name: ["unset"] for name in read_elsewhere()}


def _same_number(shown: str, default: Any) -> bool:
    if isinstance(default, bool) or not isinstance(default, int | float):
        return False
    try:
        return float(shown) == float(default)
    except ValueError:
        return False
