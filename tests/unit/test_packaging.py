"""What `pip install .` ships: every package of the source tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_listed_for_installation() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("csms", "simulators")
        for init in (ROOT / top).rglob("__init__.py")
    }
    # A package left out installs from a source checkout (editable) but not from a wheel.
    assert on_disk - listed == set()
