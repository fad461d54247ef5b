"""The README's test command is the one CI runs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    [test_command] = [line for line in lines if line.startswith("python3 -m venv")]
    readme = (ROOT / "README.md").read_text()
    assert f"```sh\n{test_command}\n```" in readme
    # After the tests: the linters, on the same code.
    assert lines[-2:] == [".venv/bin/ruff check csms simulators tests benchmarks", ".venv/bin/mypy"]
