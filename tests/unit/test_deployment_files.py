"""docker-compose.yml, the Dockerfile and deploy/haproxy.cfg fit csms as it is.

Docker is not available to the tests, so this checks what a user would check before running
`docker compose up --build`: images exist or are built from the Dockerfile, the start order is
right, every service that should have a healthcheck has one (and the checks work: they are run
against a fake server), only the load balancer is published, the csms settings are real
Settings fields with values csms accepts, the balancer's config names both nodes on the ports
csms listens on, and the commands the services run are real `csms` / `csms-sim` commands — the
shell scripts of `init` and `simulator` are run with stubs in place of the two programs, which
also shows that `init` may run again on a database that has everything already.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import csms.cli
import simulators.cli
from csms.domain.accounts import check_email, check_password
from csms.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
NODES = ("csms-1", "csms-2")
BALANCER = "lb"
SETTINGS_VARIABLES = {f"CSMS_{field.name.upper()}" for field in dataclasses.fields(Settings)}


# --- reading the files ------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\$|\$\{(?P<braced>\w+)(?P<op>:?-)?(?P<default>[^}]*)\}|\$(?P<bare>\w+)")


def interpolate(value: object) -> str:
    """Compose's variable substitution with no .env and nothing set: `${X:-default}` is its
    default, `$$` a literal `$`. A variable without a default fails: the file must work as it
    is."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        assert match.group("op"), f"${{{name}}} has no default: docker compose up needs a .env"
        return match.group("default")

    return _VARIABLE.sub(substitute, str(value))


def environment(service: str) -> dict[str, str]:
    raw = SERVICES[service].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {name: interpolate(value) for name, value in raw.items()}


@dataclasses.dataclass
class Dockerfile:
    path: Path
    #: Instructions of each stage (keyword in capitals, the rest of the line), the last is the
    #: image.
    stages: list[list[tuple[str, str]]]
    #: What each stage starts from, ARG defaults resolved.
    bases: list[str]


def read_dockerfile(path: Path) -> Dockerfile:
    text = re.sub(r"\\\n", " ", path.read_text())  # Line continuations.
    args: dict[str, str] = {}
    stages: list[list[tuple[str, str]]] = []
    bases: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            image = rest.split()[0]
            bases.append(re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), image))
            stages.append([])
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].append((keyword, rest))
    return Dockerfile(path, stages, bases)


def exec_form(rest: str) -> list[str]:
    words = json.loads(rest)
    assert isinstance(words, list), f"exec form expected (signals reach the process): {rest}"
    return [str(word) for word in words]


def build_dockerfile(service: str) -> Path:
    build = SERVICES[service]["build"]
    context, dockerfile = (build, "Dockerfile") if isinstance(build, str) else (
        build.get("context", "."), build.get("dockerfile", "Dockerfile"))
    return ROOT / context / dockerfile


CSMS_IMAGE_SERVICES = [name for name, service in SERVICES.items() if "build" in service]
DOCKERFILE = read_dockerfile(ROOT / "Dockerfile")


def image_entrypoint_and_cmd() -> tuple[list[str], list[str]]:
    final = DOCKERFILE.stages[-1]
    [entrypoint] = [exec_form(rest) for keyword, rest in final if keyword == "ENTRYPOINT"]
    [cmd] = [exec_form(rest) for keyword, rest in final if keyword == "CMD"]
    return entrypoint, cmd


def service_argv(service: str) -> list[str]:
    """What the container runs: compose's entrypoint/command over the image's (an entrypoint
    given in compose drops the image's CMD, as docker does)."""

    def words(value: str | list[object]) -> list[str]:
        if isinstance(value, str):
            return shlex.split(value)
        return [str(word) for word in value]

    spec = SERVICES[service]
    entrypoint, cmd = image_entrypoint_and_cmd()
    if "entrypoint" in spec:
        entrypoint, cmd = words(spec["entrypoint"]), []
    if "command" in spec:
        cmd = words(spec["command"])
    return [interpolate(word) for word in entrypoint + cmd]


@dataclasses.dataclass
class HAProxySection:
    kind: str
    name: str
    lines: list[list[str]]

    def directives(self, *keyword: str) -> list[list[str]]:
        return [line[len(keyword):] for line in self.lines if line[: len(keyword)] == list(keyword)]


def read_haproxy(path: Path) -> list[HAProxySection]:
    """HAProxy's line format: a section keyword at the start of a line, then its directives."""
    sections: list[HAProxySection] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        words = line.split()
        if not raw[0].isspace():
            sections.append(HAProxySection(words[0], words[1] if len(words) > 1 else "", []))
        else:
            sections[-1].lines.append(words)
    return sections


def balancer_config() -> tuple[Path, list[HAProxySection]]:
    [(source, target)] = [
        volume.split(":")[:2] for volume in SERVICES[BALANCER]["volumes"]
        if volume.startswith("./deploy/")
    ]
    assert target == "/usr/local/etc/haproxy/haproxy.cfg", "where the haproxy image reads it"
    path = ROOT / source
    assert path.is_file(), f"{source} is mounted into {BALANCER} but does not exist"
    return path, read_haproxy(path)


def seconds(haproxy_time: str) -> float:
    match = re.fullmatch(r"(\d+)(us|ms|s|m|h|d)?", haproxy_time)
    assert match, f"not an HAProxy time: {haproxy_time}"
    number, unit = match.groups()
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit or "ms"]
    return int(number) * scale


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    try:
        return parser.parse_args(argv)
    except SystemExit:
        pytest.fail(f"not a {parser.prog} command: {parser.prog} {shlex.join(argv)}")


def csms_parser() -> argparse.ArgumentParser:
    return csms.cli.build_parser()


# --- images, order, health ------------------------------------------------------------------


def test_every_image_is_built_from_the_dockerfile_or_is_an_official_tagged_image() -> None:
    assert set(CSMS_IMAGE_SERVICES) >= {"init", *NODES, "simulator"}
    for name in CSMS_IMAGE_SERVICES:
        assert build_dockerfile(name) == ROOT / "Dockerfile", name
        assert SERVICES[name].get("image") == "csms:local", f"{name}: one image for all"
    for name, service in SERVICES.items():
        if "build" not in service:
            image = service["image"]
            assert re.fullmatch(r"[a-z0-9]+:[\w.-]+", image), f"{name}: {image} (official, tagged)"
            assert not image.endswith(":latest"), name
    assert SERVICES["postgres"]["image"] == "postgres:16"
    assert SERVICES[BALANCER]["image"].startswith("haproxy:")


def test_nodes_start_after_a_healthy_database_and_a_completed_init() -> None:
    for name in NODES:
        depends = SERVICES[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["init"]["condition"] == "service_completed_successfully", name
    assert SERVICES["init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert SERVICES["init"].get("restart", "no") == "no", "a one-shot service"
    simulator = SERVICES["simulator"]["depends_on"]
    assert simulator["init"]["condition"] == "service_completed_successfully"
    assert simulator[BALANCER]["condition"] == "service_healthy"
    assert set(SERVICES[BALANCER]["depends_on"]) >= set(NODES)


def test_postgres_nodes_and_balancer_have_healthchecks_without_curl() -> None:
    for name in ("postgres", *NODES, BALANCER):
        check = SERVICES[name]["healthcheck"]["test"]
        assert check[0] in ("CMD", "CMD-SHELL"), name
        text = " ".join(check)
        assert "curl" not in text and "wget" not in text, f"{name}: not in these images"
    assert "pg_isready" in " ".join(SERVICES["postgres"]["healthcheck"]["test"])
    for name in NODES:
        check = SERVICES[name]["healthcheck"]["test"]
        assert check[:3] == ["CMD", "python", "-c"], name
        [url] = re.findall(r"http://[^'\"]+", check[3])
        parts = urllib.parse.urlsplit(url)
        assert parts.path == "/readyz"
        assert parts.port == int(environment(name)["CSMS_HTTP_PORT"]), "csms serves /readyz there"


class _FakeReadiness(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_server() -> Iterator[tuple[int, type[_FakeReadiness]]]:
    handler = type("Handler", (_FakeReadiness,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def test_node_healthcheck_passes_on_200_and_fails_on_503(
    fake_server: tuple[int, type[_FakeReadiness]],
) -> None:
    port, handler = fake_server
    code = SERVICES[NODES[0]]["healthcheck"]["test"][3]
    code = code.replace(f"127.0.0.1:{environment(NODES[0])['CSMS_HTTP_PORT']}", f"127.0.0.1:{port}")
    for status, passes in ((200, True), (503, False)):
        handler.status = status
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=False)
        assert (done.returncode == 0) is passes, (status, done.stderr)


@pytest.mark.skipif(shutil.which("bash") is None, reason="the haproxy image's check runs bash")
def test_balancer_healthcheck_passes_on_200_and_fails_on_503(
    fake_server: tuple[int, type[_FakeReadiness]],
) -> None:
    port, handler = fake_server
    check = SERVICES[BALANCER]["healthcheck"]["test"]
    assert check[:3] == ["CMD", "bash", "-c"]
    [monitor_port] = re.findall(r"/dev/tcp/127\.0\.0\.1/(\d+)", check[3])
    _, sections = balancer_config()
    [monitor] = [s for s in sections if s.directives("monitor-uri")]
    assert monitor.directives("bind") == [[f":{monitor_port}"]]
    [[uri]] = monitor.directives("monitor-uri")
    assert f"GET {uri} " in check[3]
    script = check[3].replace(f"/dev/tcp/127.0.0.1/{monitor_port}", f"/dev/tcp/127.0.0.1/{port}")
    for status, passes in ((200, True), (503, False)):
        handler.status = status
        done = subprocess.run(["bash", "-c", script], capture_output=True, timeout=30, check=False)
        assert (done.returncode == 0) is passes, (status, done.stderr)


def test_only_the_balancer_publishes_ports() -> None:
    assert [name for name, service in SERVICES.items() if service.get("ports")] == [BALANCER]
    _, sections = balancer_config()
    bound = {
        int(words[0].rsplit(":", 1)[1]) for s in sections if s.kind == "frontend"
        for words in s.directives("bind")
    }
    published = {int(interpolate(port).rsplit(":", 1)[1]) for port in SERVICES[BALANCER]["ports"]}
    assert published <= bound
    env = environment(NODES[0])
    assert published == {int(env["CSMS_HTTP_PORT"]), int(env["CSMS_OCPP_PORT"])}


# --- csms settings ------------------------------------------------------------------------------


def test_csms_variables_are_settings_fields_with_values_csms_accepts() -> None:
    for name in CSMS_IMAGE_SERVICES:
        env = environment(name)
        unknown = {key for key in env if key.startswith("CSMS_")} - SETTINGS_VARIABLES
        assert unknown == set(), f"{name}: not csms settings"
        Settings.from_env({key: value for key, value in env.items() if key.startswith("CSMS_")})
    for keyword, rest in DOCKERFILE.stages[-1]:
        if keyword == "ENV":
            for key in re.findall(r"(\w+)=", rest):
                assert not key.startswith("CSMS_") or key in SETTINGS_VARIABLES, key


def test_nodes_share_the_database_and_their_files_and_have_distinct_ids() -> None:
    postgres = environment("postgres")
    urls, ids = set(), set()
    for name in NODES:
        env = environment(name)
        url = urllib.parse.urlsplit(env["CSMS_DATABASE_URL"])
        assert (url.hostname, url.port or 5432) == ("postgres", 5432), name
        assert (url.username, url.password) == (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"])
        assert url.path == "/" + postgres["POSTGRES_DB"]
        urls.add(env["CSMS_DATABASE_URL"])
        ids.add(env["CSMS_NODE_ID"])
        assert env["CSMS_HOST"] == "0.0.0.0", "reachable from the balancer"
        # Uploaded firmware and diagnostics live in CSMS_DATA_DIR/files: shared storage.
        assert f"csms-data:{env['CSMS_DATA_DIR']}" in SERVICES[name]["volumes"], name
    assert len(urls) == 1 and len(ids) == len(NODES)
    assert "csms-data" in COMPOSE["volumes"]
    # Chargers fetch firmware where csms says: through the balancer's OCPP port.
    files = urllib.parse.urlsplit(environment(NODES[0])["CSMS_FILES_BASE_URL"])
    assert (files.hostname, files.port) == (BALANCER, int(environment(NODES[0])["CSMS_OCPP_PORT"]))


# --- the load balancer --------------------------------------------------------------------------


def test_balancer_sends_each_port_to_both_nodes_and_checks_their_readiness() -> None:
    _, sections = balancer_config()
    by_name = {(s.kind, s.name): s for s in sections}
    env = environment(NODES[0])
    wanted = {int(env["CSMS_OCPP_PORT"]): "ocpp", int(env["CSMS_HTTP_PORT"]): "http"}
    for frontend in (s for s in sections if s.kind == "frontend" and s.directives("default_backend")):
        [[bind]] = frontend.directives("bind")
        port = int(bind.rsplit(":", 1)[1])
        assert port in wanted, f"frontend {frontend.name} on {port}"
        [[backend_name]] = frontend.directives("default_backend")
        backend = by_name[("backend", backend_name)]
        servers = backend.directives("server")
        assert sorted(server[0] for server in servers) == sorted(NODES)
        for server in servers:
            host, _, server_port = server[1].rpartition(":")
            assert host in SERVICES and host in NODES, server
            assert int(server_port) == port, f"{backend_name}/{server[0]}: csms listens on {port}"
            assert "check" in server[2:], f"{backend_name}/{server[0]} is health-checked"
            # csms serves /readyz on its HTTP port only: the OCPP servers check that one.
            check_port = int(server[server.index("port") + 1]) if "port" in server[2:] else port
            assert check_port == int(env["CSMS_HTTP_PORT"]), f"{backend_name}/{server[0]}"
        assert backend.directives("option", "httpchk") == [[]]
        [send] = backend.directives("http-check", "send")
        assert send[send.index("meth") + 1] == "GET" and send[send.index("uri") + 1] == "/readyz"
        assert backend.directives("http-check", "expect") == [["status", "200"]]
        wanted.pop(port)
    assert wanted == {}, f"no frontend for {wanted}"


def test_balancer_keeps_websockets_open_between_heartbeats() -> None:
    path, sections = balancer_config()
    [defaults] = [s for s in sections if s.kind == "defaults"]
    assert defaults.directives("mode") == [["http"]], "HTTP mode: upgrades pass as tunnels"
    timeouts = {words[0]: seconds(words[1]) for words in defaults.directives("timeout")}
    # An idle charger says something at least every heartbeat interval (csms pings more often).
    assert timeouts["tunnel"] > 2 * Settings().heartbeat_interval
    assert timeouts["http-request"] >= Settings().handshake_timeout
    assert timeouts["server"] > Settings().call_timeout, "a command waits for the charger"
    text = path.read_text().lower()
    for header in ("sec-websocket-protocol", "upgrade", "connection", "authorization"):
        assert not re.search(rf"(del|set|replace)-header\s+{header}\b", text), header


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_accepts_the_config() -> None:
    path, _ = balancer_config()
    done = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# --- the commands -------------------------------------------------------------------------------


def test_nodes_run_csms_serve() -> None:
    for name in NODES:
        argv = service_argv(name)
        assert argv[0] == "csms", name
        assert parse(csms_parser(), argv[1:]).run is csms.cli._serve
        assert not parse(csms_parser(), argv[1:]).demo


def test_no_service_installs_anything_at_start() -> None:
    for name in SERVICES:
        assert "pip install" not in " ".join(service_argv(name)), name


_STUB = """#!{python}
import json, os, sys
argv = [os.path.basename(sys.argv[0]), *sys.argv[1:]]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(argv) + "\\n")
mode = os.environ["STUB_MODE"]
adds = {{
    ("operator", "add"): "a user with this email already exists",
    ("charge-point", "add"): "charge point {{!r}} is already registered",
    ("id-tag", "add"): "this idTag is already registered",
}}
message = adds.get(tuple(argv[1:3]))
if argv[0] == "csms" and message and mode == "exists":
    name = argv[argv.index("--id") + 1] if "--id" in argv else ""
    print("csms: " + message.format(name), file=sys.stderr)
    sys.exit(2)
if argv[0] == "csms" and message and mode == "fails":
    print("csms: password must be 8-256 characters", file=sys.stderr)
    sys.exit(2)
print(" ".join(argv) + ": done")
"""

#: What the stub answers for a thing that exists already must be what csms says (csms.cli
#: prints ``csms: <message>`` and exits 2); these are the sources of those messages.
_MESSAGES = {
    "csms.store.errors": "a user with this email already exists",
    "csms.services.charge_points": "is already registered",
    "csms.store.id_tags": "this idTag is already registered",
}


def run_service(name: str, tmp_path: Path, mode: str = "ok") -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """The service's command with stubs as `csms` and `csms-sim`: its exit and their calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for program in ("csms", "csms-sim"):
        stub = bin_dir / program
        stub.write_text(_STUB.format(python=sys.executable))
        stub.chmod(0o755)
    log = tmp_path / f"{name}-{mode}.log"
    env = {**environment(name), "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
           "STUB_LOG": str(log), "STUB_MODE": mode}
    done = subprocess.run(service_argv(name), env=env, capture_output=True, text=True, timeout=60, check=False)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, calls


def fleet(tmp_path: Path) -> argparse.Namespace:
    done, calls = run_service("simulator", tmp_path)
    assert done.returncode == 0, done.stderr
    [call] = calls
    assert call[0] == "csms-sim"
    args = parse(simulators.cli.build_parser(), call[1:])
    assert args.command == "fleet"
    return args


def test_simulator_runs_a_fleet_through_the_balancer(tmp_path: Path) -> None:
    args = fleet(tmp_path)
    url = urllib.parse.urlsplit(args.url)
    assert (url.scheme, url.hostname, url.path) == ("ws", BALANCER, "/ocpp")
    assert url.port == int(environment(NODES[0])["CSMS_OCPP_PORT"])
    assert args.count == int(environment("simulator")["FLEET_SIZE"]) > 0
    assert args.duration is None, "runs until stopped"
    assert len(set(args.id_tag)) == args.count, "a card each: a card charges one car at a time"


def test_init_migrates_creates_the_operator_and_registers_the_fleet(tmp_path: Path) -> None:
    done, calls = run_service("init", tmp_path)
    assert done.returncode == 0, done.stderr
    assert {call[0] for call in calls} == {"csms"}
    parsed = [parse(csms_parser(), call[1:]) for call in calls]
    assert parsed[0].run is csms.cli._migrate
    env = environment("init")
    [operator] = [args for args in parsed if args.run is csms.cli._add_operator]
    assert (operator.email, operator.password) == (env["OPERATOR_EMAIL"], env["OPERATOR_PASSWORD"])
    check_email(operator.email)
    check_password(operator.password)
    # The chargers and cards of the fleet, registered (no CSMS_AUTO_REGISTER: a pending charger
    # is never accepted by itself, so it would never charge).
    args = fleet(tmp_path)
    expected = {f"{args.prefix}{args.first + n:05d}" for n in range(args.count)}
    charge_points = [a for a in parsed if a.run is csms.cli._add_charge_point]
    assert {a.id for a in charge_points} == expected
    for registered in charge_points:
        assert len(registered.connector) == args.connectors, registered.id
        assert registered.key is None, "the fleet connects without a key (--key-file unset)"
    assert args.key_file is None
    assert {a.id_tag for a in parsed if a.run is csms.cli._add_id_tag} == set(args.id_tag)
    assert not any(environment(name).get("CSMS_AUTO_REGISTER") for name in CSMS_IMAGE_SERVICES)


def test_init_may_run_again_and_stops_on_other_failures(tmp_path: Path) -> None:
    for module, message in _MESSAGES.items():
        source = Path(sys.modules[module].__file__ or "").read_text()
        assert message in source, f"{module} no longer says {message!r}: see init's script"
    first, first_calls = run_service("init", tmp_path)
    again, again_calls = run_service("init", tmp_path, mode="exists")
    assert first.returncode == again.returncode == 0, again.stderr
    assert again_calls == first_calls, "every step ran again"
    assert "already registered: kept" in again.stdout
    failed, failed_calls = run_service("init", tmp_path, mode="fails")
    assert failed.returncode != 0
    assert "password must be" in failed.stderr
    assert [call[1:3] for call in failed_calls] == [["migrate"], ["operator", "add"]]


# --- the Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_installs_csms_at_build_time_and_runs_it_unprivileged() -> None:
    *build_stages, final = DOCKERFILE.stages
    runs = [rest for stage in DOCKERFILE.stages for keyword, rest in stage if keyword == "RUN"]
    assert any(re.search(r"\bpip install \.(\s|$)", run) for run in runs), "pip install . of the context"
    for base in DOCKERFILE.bases:
        version = re.fullmatch(r"python:(3\.\d+)-slim", base)
        assert version, base
        required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
        assert tuple(map(int, version.group(1).split("."))) >= tuple(map(int, required.lstrip(">=").split(".")))
    if build_stages:
        assert any(keyword == "COPY" and "--from=" in rest for keyword, rest in final)
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "runs as a non-root user"
    entrypoint, cmd = image_entrypoint_and_cmd()
    assert (entrypoint, cmd) == (["csms"], ["serve"])
    for keyword, rest in final:
        if keyword in ("ENTRYPOINT", "CMD"):
            assert "pip" not in rest
    exposed = {int(port) for keyword, rest in final if keyword == "EXPOSE" for port in rest.split()}
    env = environment(NODES[0])
    assert exposed >= {int(env["CSMS_HTTP_PORT"]), int(env["CSMS_OCPP_PORT"])}


def test_dockerfile_copies_what_pip_install_reads_and_dockerignore_keeps_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = project["tool"]["setuptools"]
    package_dir = setuptools.get("package-dir", {})
    # The top-level folders of the packages (a package-dir entry names where one lives).
    needed = {"pyproject.toml", project["project"]["readme"]} | {
        package_dir.get(package, package.replace(".", "/")).split("/")[0]
        for package in setuptools["packages"]
    }
    copied: set[str] = set()
    for stage in DOCKERFILE.stages:
        for keyword, rest in stage:
            if keyword == "COPY" and "--from=" not in rest:
                words = rest.split()
                sources = json.loads(rest)[:-1] if rest.startswith("[") else words[:-1]
                copied |= {source.rstrip("/").removeprefix("./") or "." for source in sources}
    assert "." in copied or needed <= copied, f"not copied into the build: {needed - copied}"
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for path in needed:
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), path
    for local_state in (".venv", ".git", ".csms", ".pytest_cache", ".mypy_cache", ".hypothesis",
                        "test-artifacts", "csms.egg-info"):
        assert any(fnmatch.fnmatch(local_state, pattern.removeprefix("**/")) for pattern in ignored), local_state
