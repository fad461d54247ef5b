"""Hostile clients against a real ``csms serve``: 2,000 half-open TCP sockets, 1,000 upgraded
silent sockets and a sign-in flood at once. A well-behaved charger keeps answering heartbeats
promptly and can reconnect; the half-open sockets are closed within the handshake timeout."""

from __future__ import annotations

from pathlib import Path

from tests.faults.hostile import attack
from tests.faults.processes import serving_process

HANDSHAKE_TIMEOUT = 2.0


async def test_a_charger_is_served_while_hostile_clients_attack(tmp_path: Path) -> None:
    with serving_process(
        tmp_path, handshake_timeout=str(HANDSHAKE_TIMEOUT), auto_register="true"
    ) as serve:
        server = await serve.handle()
        cp_id = await server.register_charge_point()
        assert serve.process is not None
        figures = await attack(
            host="127.0.0.1",
            ocpp_port=serve.ocpp_port,
            http_url=server.http_url,
            charger_url=f"{server.ocpp_url}/{cp_id}",
            server_pid=serve.process.pid,
            half_open_sockets=2000,
            silent_sockets=1000,
            seconds=6.0,
        )
    print("\n" + figures.summary())
    # Generous bounds: the machine is shared and the attackers run on it too.
    assert figures.p(0.99) < 100
    assert figures.reconnected
    assert len(figures.half_open_closed_s) == 2000
    # Each was closed by the server (the test never closes them) within the timeout and slack.
    assert max(figures.half_open_closed_s) < HANDSHAKE_TIMEOUT + 2.0
    assert figures.silent_upgraded == 1000
    # The flood is turned away cheaply: most guesses never reach the password check.
    assert figures.sign_in_answers.get(429, 0) > figures.sign_in_answers.get(401, 0)
    assert set(figures.sign_in_answers) <= {401, 429}
    # The half-open sockets held descriptors until closed; then only the silent ones are left.
    fds = figures.server_fds
    assert fds["half-open held"] > fds["before"] + 1500
    assert fds["half-open closed"] < fds["before"] + 1000 + 50
