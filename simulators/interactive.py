"""``csms-sim run``: one charger driven by commands from a terminal or a pipe.

Every event is printed as one plain line as it happens. On a terminal a ``csms-sim>`` prompt is
shown and redrawn under each event line; from a pipe, commands are read until ``quit`` or end of
input, which both stop running sessions cleanly and disconnect. A charger whose id the CSMS
does not know (HTTP 404, again and again) gives up: one line on stderr, exit status 1.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TextIO

from simulators.charge_point import GaveUp, SimulatedChargePoint, utc_now
from simulators.commands import USAGE, CommandError, execute, parse
from simulators.events import Event, EventKind
from simulators.protocol import format_clock

PROMPT = "csms-sim> "
#: Events about single frames; ``--quiet`` hides them.
FRAME_KINDS = frozenset({EventKind.SENT, EventKind.RESULT, EventKind.RECEIVED,
                         EventKind.ANSWERED})


class Console:
    """Prints event lines, keeping the prompt at the bottom of a terminal."""

    def __init__(self, out: TextIO, *, prompt: bool, quiet: bool = False,
                 timestamps: bool = False) -> None:
        self.out, self.prompt, self.quiet, self.timestamps = out, prompt, quiet, timestamps
        self.prompt_visible = False

    def event(self, event: Event) -> None:
        if self.quiet and event.kind in FRAME_KINDS:
            return
        text = event.text
        if self.timestamps:
            text = f"{format_clock(utc_now())} {text}"
        self.line(text)

    def line(self, text: str) -> None:
        if self.prompt:
            self.out.write(f"\r\x1b[K{text}\n{PROMPT}")
            self.prompt_visible = True
        else:
            self.out.write(f"{text}\n")
        self.out.flush()

    def show_prompt(self) -> None:
        if self.prompt and not self.prompt_visible:
            self.out.write(PROMPT)
            self.out.flush()
            self.prompt_visible = True

    def typed(self) -> None:
        """The user pressed Enter: the terminal is on a fresh line without a prompt."""
        self.prompt_visible = False


def read_lines(stream: TextIO) -> asyncio.Queue[str | None]:
    """Lines of ``stream`` as they come (None at end of input), read by a daemon thread so that
    pipes, files and terminals all work and a blocked read never keeps the process alive."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        for line in stream:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="csms-sim-stdin", daemon=True).start()
    return queue


async def run(cp: SimulatedChargePoint, console: Console, lines: asyncio.Queue[str | None],
              *, boot_timeout: float = 30.0) -> int:
    """Run the charger and its command loop until ``quit`` or end of input: 0; 1 (and a line
    on stderr) when the charger gives up because the CSMS does not know its id."""
    cp.on_event = console.event
    await cp.start(wait_boot=False)
    try:
        await cp.wait_booted(boot_timeout)
    except GaveUp as exc:
        await cp.close(stop_sessions=False)
        print(f"csms-sim: {exc}", file=sys.stderr)
        return 1
    except TimeoutError as exc:
        console.line(f"not booted yet ({exc}); reading commands anyway")
    console.show_prompt()
    try:
        await _command_loop(cp, console, lines)
    finally:
        console.prompt = False
        await cp.close()
        console.line("bye")
    return 0 if cp.gave_up is None else 1


async def _command_loop(
    cp: SimulatedChargePoint, console: Console, lines: asyncio.Queue[str | None]
) -> None:
    while cp.gave_up is None:  # it gave up after the boot wait: nothing left to drive
        raw = await lines.get()
        if raw is None:
            return
        console.typed()
        line = raw.split("#", 1)[0].strip()
        if not line:
            console.show_prompt()
            continue
        if line.lower() in ("quit", "exit"):
            return
        if line.lower() in ("help", "?"):
            for usage in USAGE.splitlines():
                console.line(usage)
            continue
        try:
            output = await execute(cp, parse(line))
        except CommandError as exc:
            console.line(f"error: {exc}")
            continue
        for text in (output or "").splitlines():
            console.line(text)
        console.show_prompt()


def main_loop(cp: SimulatedChargePoint, *, quiet: bool, timestamps: bool,
              boot_timeout: float) -> int:
    """Entry point for ``csms-sim run``: stdin in, stdout out."""
    console = Console(sys.stdout, prompt=sys.stdin.isatty(), quiet=quiet, timestamps=timestamps)

    async def go() -> int:
        return await run(cp, console, read_lines(sys.stdin), boot_timeout=boot_timeout)

    return asyncio.run(go())
