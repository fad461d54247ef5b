"""The README's ``csms-sim run`` example, as written, against ``csms serve --demo``: the
charger it names boots (the demo registers it and leaves it to the reader)."""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import clone_database, csms_env, free_port, stop_csms_process

README = Path(__file__).resolve().parents[2] / "README.md"
#: The address the README's example assumes: the demo's defaults.
DEFAULT_OCPP_URL = "ws://127.0.0.1:9000/ocpp"


def readme_simulator_example() -> list[str]:
    """The first ``csms-sim run`` line of a shell block in the README's simulator section."""
    text = README.read_text()
    section = text[text.index("## The charger simulator"):]
    section = section[:section.index("\n## ", 1)]
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL):
        for line in block.splitlines():
            if line.startswith("csms-sim run "):
                return shlex.split(line)
    raise AssertionError("no `csms-sim run` example in the README's simulator section")


def start_demo(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``csms serve --demo``, once it has seeded the demo and printed its banner."""
    with log.open("ab") as out:
        server = subprocess.Popen([sys.executable, "-m", "csms", "serve", "--demo"], env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "csms demo is running" not in log.read_text(errors="replace"):
        if server.poll() is not None or time.monotonic() > deadline:
            stop_csms_process(server)
            raise AssertionError(f"csms serve --demo did not start: "
                                 f"{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return server


async def test_the_readme_example_boots_the_demo_charger(
    postgres_uri: str, template_uri: str, tmp_path: Path
) -> None:
    argv = readme_simulator_example()
    assert DEFAULT_OCPP_URL in argv, argv
    ocpp_port = free_port()
    env = csms_env(database_url=await clone_database(postgres_uri), data_dir=str(tmp_path),
                   http_port=str(free_port()), ocpp_port=str(ocpp_port), log_level="INFO")
    server = await asyncio.to_thread(start_demo, env, tmp_path / "csms.log")
    try:
        # Only the port differs from the README: this demo listens on a free one.
        url = f"ws://127.0.0.1:{ocpp_port}/ocpp"
        simulator = shutil.which("csms-sim", path=str(Path(sys.executable).parent))
        assert simulator is not None
        command = [simulator, *[url if word == DEFAULT_OCPP_URL else word for word in argv[1:]]]
        run = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(run.communicate(b"status\nquit\n"), 30)
    finally:
        await asyncio.to_thread(stop_csms_process, server)
    lines = stdout.decode().splitlines()
    cp_id = argv[argv.index("--id") + 1]
    assert run.returncode == 0, (stdout, stderr)
    assert any(line.startswith("boot Accepted") for line in lines), lines
    assert f"charger {cp_id}: online, boot Accepted" in stdout.decode()
