"""Drive ``csms-sim`` through a pseudo-terminal, the way a person at a keyboard would."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import termios


class Terminal:
    """A subprocess whose stdin/stdout/stderr is a pty; read without blocking the event loop."""

    def __init__(self, *args: str) -> None:
        self.master, slave = os.openpty()
        attributes = termios.tcgetattr(slave)
        attributes[3] &= ~termios.ECHO  # no echo: the output is only what csms-sim prints
        termios.tcsetattr(slave, termios.TCSANOW, attributes)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simulators", *args], stdin=slave, stdout=slave,
            stderr=slave, close_fds=True, start_new_session=True)
        os.close(slave)
        self.output = ""
        self._seen = 0
        self._changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(self.master, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
        self.output += data.decode(errors="replace").replace("\r\n", "\n")
        self._changed.set()

    async def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait for ``pattern`` (a regex) in the output after the last match."""
        regex = re.compile(pattern)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    match = regex.search(self.output, self._seen)
                    if match:
                        self._seen = match.end()
                        return match
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"no {pattern!r} within {timeout} s in:\n"
                                 f"{self.output[self._seen:][-3000:]}") from None

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    async def wait(self, timeout: float = 15.0) -> int:
        return await asyncio.wait_for(asyncio.to_thread(self.process.wait), timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.master)
        os.close(self.master)
