"""What `pip install .` ships: every package of the source tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_listed_for_installation() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(module.parent.relative_to(ROOT).parts)
        for top in ("csms", "simulators")
        for module in (ROOT / top).rglob("*.py")
    }
    # Every folder of modules is a regular package (a namespace package is easily left out).
    assert {name for name in on_disk if not (ROOT.joinpath(*name.split(".")) / "__init__.py").exists()} == set()
    # A package left out installs from a source checkout (editable) but not from a wheel.
    assert on_disk - listed == set()
