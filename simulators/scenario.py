"""``csms-sim scenario FILE``: scripted chargers with expectations (format: docs/simulator.md).

A scenario is a text file, one step per line, ``#`` starts a comment. Steps are the interactive
commands (``plug 1``, ``code 1 ${code}``, ``wait 2`` …) plus ``charger``, ``use``, ``expect``,
``check``, ``http``, ``set``, ``url``, ``http-url``, ``timeout`` and ``echo``. :func:`load`
parses a whole file first (a syntax error names its line before anything runs);
:class:`Runner` then runs the steps in order and stops at the first failed expectation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
import shlex
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from simulators.charge_point import Backoff, SimulatedChargePoint, utc_now
from simulators.commands import CommandError, execute
from simulators.commands import parse as parse_command
from simulators.expectations import Expectation, parse_expectation
from simulators.httpclient import HttpError, request
from simulators.protocol import format_time

_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_OFFSET = re.compile(r"now([+-])(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DIRECTIVES = frozenset({"charger", "use", "expect", "check", "http", "set", "url", "http-url",
                         "timeout", "echo"})


class ScenarioError(Exception):
    """The scenario cannot go on; the message names the line."""


class ExpectationFailed(ScenarioError):
    """An expectation did not hold."""


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    line: int
    text: str  # as written (variables not yet substituted)
    keyword: str


def load(path: Path) -> list[Step]:
    """Read and check a scenario file; raise ScenarioError naming the first bad line."""
    steps = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        text = _strip_comment(raw)
        if not text:
            continue
        keyword = text.split(None, 1)[0].lower()
        if keyword not in _DIRECTIVES:
            try:
                parse_command(_VARIABLE.sub("X", text))
            except CommandError as exc:
                raise ScenarioError(f"line {number}: {exc}") from None
        elif keyword in ("expect", "check"):
            try:
                parse_expectation(_VARIABLE.sub("X", text.split(None, 1)[-1]), keyword)
            except ValueError as exc:
                raise ScenarioError(f"line {number}: {exc}") from None
        steps.append(Step(number, text, keyword))
    return steps


def _strip_comment(raw: str) -> str:
    """Drop a ``#`` comment that starts a line or follows a blank (so ``#`` in JSON survives)."""
    match = re.search(r"(^|\s)#", raw)
    return (raw[: match.start()] if match else raw).strip()


@dataclasses.dataclass
class Settings:
    url: str | None = None
    http_url: str | None = None
    token: str | None = None
    timeout: float = 10.0
    verbose: bool = False
    backoff: Backoff = dataclasses.field(default_factory=lambda: Backoff(0.2, 5.0))


class Runner:
    """Runs the steps of one scenario against a CSMS."""

    def __init__(self, settings: Settings, out: TextIO = sys.stdout) -> None:
        self.settings = settings
        self.out = out
        self.chargers: dict[str, SimulatedChargePoint] = {}
        self.current: SimulatedChargePoint | None = None
        self.variables: dict[str, Any] = {}

    async def run(self, steps: list[Step]) -> None:
        """Run every step; raise ScenarioError (or ExpectationFailed) at the first failure."""
        try:
            for step in steps:
                await self._step(step)
        finally:
            for cp in self.chargers.values():
                await cp.close()

    async def _step(self, step: Step) -> None:
        text = self.substitute(step.text, step.line)
        rest = text.split(None, 1)[1] if " " in text.strip() else ""
        handlers: dict[str, Callable[[str, Step], Any]] = {
            "charger": self._charger, "use": self._use, "expect": self._expect,
            "check": self._check, "http": self._http, "set": self._set, "url": self._url,
            "http-url": self._http_url, "timeout": self._timeout, "echo": self._echo,
        }
        handler = handlers.get(step.keyword)
        started = utc_now()
        if handler is None:
            await self._command(text, step)
        else:
            result = handler(rest, step)
            if asyncio.iscoroutine(result):
                await result
        elapsed = (utc_now() - started).total_seconds()
        self._say(f"{step.line:4} {text}  ok ({elapsed:.2f} s)")

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # ---- variables -----------------------------------------------------------------------

    def substitute(self, text: str, line: int) -> str:
        """Replace ``${name}``, ``${name.field}``, ``${id}``, ``${now}``, ``${now+90s}`` and
        ``${random}`` in ``text``."""
        def value(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            try:
                return str(self._lookup(name))
            except KeyError:
                raise ScenarioError(f"line {line}: unknown variable ${{{name}}}") from None

        return _VARIABLE.sub(value, text)

    def _lookup(self, name: str) -> object:
        if name == "id":
            if self.current is None:
                raise KeyError(name)
            return self.current.cp_id
        if name == "random":
            return f"{secrets.randbelow(10**6):06d}"
        offset = _OFFSET.fullmatch(name.replace(" ", ""))
        if name == "now" or offset:
            delta = 0.0
            if offset:
                sign = -1 if offset.group(1) == "-" else 1
                delta = sign * float(offset.group(2)) * _UNITS[offset.group(3)]
            return format_time(utc_now() + timedelta(seconds=delta))
        head, *path = name.split(".")
        found: object = self.variables[head]
        for key in path:
            if isinstance(found, dict):
                found = found[key]
            elif isinstance(found, list) and key.isdigit():
                found = found[int(key)]
            else:
                raise KeyError(name)
        return found

    # ---- steps ---------------------------------------------------------------------------

    async def _charger(self, rest: str, step: Step) -> None:
        """``charger ID [connectors=N] [power-kw=P] [key=K] [profiles=A,B] [quirk=Q,R]
        [config=KEY=VALUE]… [tls-url=U] [security-events=all|critical|off] [cert-dir=D]
        [firmware-version=V] [new-firmware-version=V]``: start a charger, wait for its boot,
        make it current."""
        words = shlex.split(rest)
        if not words:
            raise ScenarioError(f"line {step.line}: charger needs an id")
        if self.settings.url is None:
            raise ScenarioError(f"line {step.line}: no CSMS url (give --url or a url line)")
        options = _charger_options(words[1:], step.line)
        cp = SimulatedChargePoint(self.settings.url, words[0], backoff=self.settings.backoff,
                                  **options)
        if self.settings.verbose:
            cp.on_event = lambda e, name=words[0]: self._say(f"     [{name}] {e.text}")
        self.chargers[words[0]] = cp
        self.current = cp
        try:
            await cp.start(timeout=self.settings.timeout)
        except TimeoutError as exc:
            raise ScenarioError(f"line {step.line}: {exc}") from None

    def _use(self, rest: str, step: Step) -> None:
        if rest.strip() not in self.chargers:
            raise ScenarioError(f"line {step.line}: no charger {rest.strip()!r} declared")
        self.current = self.chargers[rest.strip()]

    def _charger_now(self, step: Step) -> SimulatedChargePoint:
        if self.current is None:
            raise ScenarioError(f"line {step.line}: declare a charger first")
        return self.current

    async def _command(self, text: str, step: Step) -> None:
        cp = self._charger_now(step)
        try:
            output = await execute(cp, parse_command(text))
        except CommandError as exc:
            raise ScenarioError(f"line {step.line}: {text}: {exc}") from None
        if output:
            self._say(output)

    async def _expect(self, rest: str, step: Step) -> None:
        expectation = parse_expectation(rest, "expect")
        await self._verify(expectation, step)

    async def _check(self, rest: str, step: Step) -> None:
        expectation = parse_expectation(rest, "check")
        await self._verify(expectation, step)

    async def _verify(self, expectation: Expectation, step: Step) -> None:
        cp = self._charger_now(step)
        timeout = expectation.within if expectation.within is not None else self.settings.timeout
        problem = await expectation.verify(cp, timeout)
        if problem is not None:
            raise ExpectationFailed(f"line {step.line}: {step.text}: {problem}")

    async def _http(self, rest: str, step: Step) -> None:
        """``http METHOD PATH [JSON] [expect CODE] [as NAME]``."""
        base = self.settings.http_url
        if base is None:
            raise ScenarioError(f"line {step.line}: no CSMS http url (--http-url or http-url)")
        match = re.fullmatch(r"(\S+)\s+(\S+)\s*(.*?)\s*(?:expect\s+(\d{3}))?\s*(?:as\s+(\w+))?",
                             rest, re.DOTALL)
        if match is None:
            raise ScenarioError(f"line {step.line}: usage: http METHOD PATH [JSON] "
                                "[expect CODE] [as NAME]")
        method, path, body, code, name = match.groups()
        for cp in self.chargers.values():
            cp.mark()  # what the CSMS does next is the new action
        try:
            status, answer = await request(method.upper(), base + path, body or None,
                                           self.settings.token, self.settings.timeout)
        except HttpError as exc:
            raise ScenarioError(f"line {step.line}: {exc}") from None
        wanted_ok = status == int(code) if code else 200 <= status < 300
        if not wanted_ok:
            raise ExpectationFailed(f"line {step.line}: {step.text}: HTTP {status}: {answer}")
        if name:
            self.variables[name] = answer

    def _set(self, rest: str, step: Step) -> None:
        name, _, value = rest.partition(" ")
        if not re.fullmatch(r"\w+", name):
            raise ScenarioError(f"line {step.line}: usage: set NAME VALUE")
        self.variables[name] = value.strip()

    def _url(self, rest: str, step: Step) -> None:
        self.settings.url = self.settings.url or rest.strip()

    def _http_url(self, rest: str, step: Step) -> None:
        self.settings.http_url = self.settings.http_url or rest.strip().rstrip("/")

    def _timeout(self, rest: str, step: Step) -> None:
        try:
            self.settings.timeout = float(rest)
        except ValueError:
            raise ScenarioError(f"line {step.line}: usage: timeout SECONDS") from None

    def _echo(self, rest: str, step: Step) -> None:
        self._say(rest)


#: Charger options taken as text: scenario word → SimulatedChargePoint argument.
_TEXT_OPTIONS = {"tls-url": "tls_url", "security-events": "security_events",
                 "firmware-version": "firmware_version",
                 "new-firmware-version": "new_firmware_version", "cert-dir": "cert_dir"}


def _charger_options(words: list[str], line: int) -> dict[str, Any]:
    options: dict[str, Any] = {"config": {}}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise ScenarioError(f"line {line}: charger options are key=value, not {word!r}")
        if key == "connectors":
            options["connectors"] = int(value)
        elif key == "power-kw":
            options["power_kw"] = float(value)
        elif key in ("key", "profiles"):
            options[key] = value
        elif key in _TEXT_OPTIONS:
            options[_TEXT_OPTIONS[key]] = value
        elif key == "quirk":
            options["quirks"] = [q for q in value.split(",") if q]
        elif key == "config":
            name, _, setting = value.partition("=")
            options["config"][name] = setting
        else:
            raise ScenarioError(f"line {line}: unknown charger option {key!r}")
    return options


async def run_file(path: Path, settings: Settings, out: TextIO = sys.stdout) -> int:
    """Run the scenario at ``path``: 0 when every expectation holds, 1 when one fails,
    2 when the file or the setup is wrong. The reason goes to stderr."""
    try:
        steps = load(path)
        await Runner(settings, out).run(steps)
    except ExpectationFailed as exc:
        print(f"FAILED {path.name} {exc}", file=sys.stderr)
        return 1
    except (ScenarioError, OSError, ValueError) as exc:
        print(f"ERROR {path.name}: {exc}", file=sys.stderr)
        return 2
    out.write(f"PASSED {path.name}\n")
    return 0
