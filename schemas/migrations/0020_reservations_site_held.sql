-- Search near a place (issue #13): what the live bookings at a few sites hold, found with one
-- probe per site (csms/booking/search.py, _TAKEN_AT_SITES) instead of one per connector of the
-- exclusion index (~20 µs each: 2 ms for a site of 100 connectors). A live booking's site_id
-- is its charger's (trigger reservations_live_connector), and a charger with live bookings
-- cannot move to another site, so the site's bookings are its connectors' bookings.
CREATE INDEX reservations_site_held ON reservations USING gist (site_id, held)
    WHERE status IN ('booked', 'active', 'charging');
