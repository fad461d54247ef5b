"""Every example scenario in examples/scenarios passes against a real CSMS, via the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CsmsProcess

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "scenarios").glob("*.scn"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
async def test_example_scenario_passes(csms: CsmsProcess, path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators", "scenario", str(path), "--url", csms.ocpp_url,
        "--http-url", csms.http_url, "--token", csms.token,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, out.decode()[-3000:] + err.decode()
    assert f"PASSED {path.name}" in out.decode()


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 5
