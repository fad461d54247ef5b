"""``GET /api/v1/reservations/{id}/calendar.ics``: the booking's driver gets it with the code,
an operator without, anyone else 404."""

from __future__ import annotations

import aiohttp

from tests.world import World


async def _calendar(world: World, reservation_id: int, token: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{world.server.http_url}/api/v1/reservations/{reservation_id}/calendar.ics",
            headers=world.server.headers(token),
        ) as response,
    ):
        return response.status, response.headers.get("Content-Type", ""), await response.text()


async def test_the_driver_gets_an_icalendar_file_with_the_code(world: World) -> None:
    status, site = await world.server.request(
        "PATCH", f"/api/v1/sites/{world.site_id}", json={"address": "Hauptstraße 1, Berlin"}
    )
    assert status == 200, site
    start, end = world.window(starts_in=60)
    _, booking = await world.book(1, (start, end))
    status, content_type, text = await _calendar(world, booking["id"], world.driver)
    assert status == 200
    assert content_type == "text/calendar; charset=utf-8"
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    unfolded = text.replace("\r\n ", "")
    stamp = start.replace("-", "").replace(":", "").replace(".000", "")
    assert f"DTSTART:{stamp}" in unfolded
    assert "LOCATION:Berlin Yard\\, Hauptstraße 1\\, Berlin" in unfolded
    assert f"Code: {booking['code']}" in unfolded and world.cp_id in unfolded

    status, _, as_operator = await _calendar(world, booking["id"], world.server.token)
    assert status == 200 and booking["code"] not in as_operator
    uid = [line for line in unfolded.split("\r\n") if line.startswith("UID:")]
    assert uid and uid[0] in as_operator.replace("\r\n ", "")


async def test_someone_elses_booking_is_not_found(world: World) -> None:
    _, booking = await world.book(1, world.window(starts_in=60))
    other = await world.new_driver()
    assert (await _calendar(world, booking["id"], other))[0] == 404
    assert (await _calendar(world, 999999, world.driver))[0] == 404
    assert (await _calendar(world, 99999999999, world.driver))[0] == 404
