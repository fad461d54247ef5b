"""Where the contracts live: ``schemas/`` in a checkout, ``csms/schemas`` once installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _find() -> Path:
    spec = importlib.util.find_spec("csms.schemas")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[1] / "schemas"


SCHEMAS_DIR = _find()
