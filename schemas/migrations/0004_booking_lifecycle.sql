-- The booking lifecycle: codes unique per site (where they are typed), a cost breakdown, the
-- wrong-code counter shared by every node, and transactions as chargers really send them.

-- A booking moves only between chargers of one site, so a code needs to be unique only there:
-- no system-wide ceiling of one million live six-digit codes.
ALTER TABLE reservations ADD COLUMN site_id bigint REFERENCES sites (id);
UPDATE reservations r SET site_id = cp.site_id FROM charge_points cp WHERE cp.id = r.charge_point_id;
ALTER TABLE reservations ALTER COLUMN site_id SET NOT NULL;
DROP INDEX reservations_live_code;
CREATE UNIQUE INDEX reservations_live_code ON reservations (site_id, lower(code))
    WHERE status IN ('booked', 'active', 'charging');
CREATE INDEX reservations_site_code ON reservations (site_id, lower(code), id DESC);

-- What the session cost, line by line (energy per tariff period, time, fees); sums to cost.
ALTER TABLE reservations ADD COLUMN cost_breakdown jsonb;
-- How often the charger dropped this reservation and it was sent again (bounded).
ALTER TABLE reservations ADD COLUMN redispatches integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN reservations.dispatched_at IS
    'When ReserveNow was sent to the current connector (or the CSMS took over): the code works '
    'from then, since chargers Authorize the idTag before they answer.';

-- Every transition says why.
UPDATE reservation_history SET reason = 'booked' WHERE reason IS NULL;
ALTER TABLE reservation_history ALTER COLUMN reason SET NOT NULL;
-- The live feed publishes every transition (csms.live_feed), found by time.
CREATE INDEX reservation_history_at ON reservation_history (at);

-- Wrong codes typed at a charger, counted by every node alike and kept across restarts.
CREATE TABLE wrong_codes (
    charge_point_id text NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX wrong_codes_charge_point ON wrong_codes (charge_point_id, at);

-- A retried StartTransaction is the same message (S 4.8): same connector, timestamp, idTag and
-- meterStart. Chargers stamp whole seconds, so two different starts may share a timestamp.
ALTER TABLE transactions DROP CONSTRAINT transactions_start_once;
CREATE UNIQUE INDEX transactions_start_once
    ON transactions (charge_point_id, connector_id, started_at, lower(id_tag), meter_start);
-- When the CSMS received the start and the stop: the fallback when a charger's clock is wrong.
ALTER TABLE transactions
    ADD COLUMN received_at timestamptz,
    ADD COLUMN stop_received_at timestamptz,
    -- Energy as priced (resets continued, absurd readings left out): what every view shows.
    ADD COLUMN energy_wh numeric,
    -- Closed by the CSMS, not by the charger (a refused start, a lost Stop): a StopTransaction
    -- that arrives later still replaces it.
    ADD COLUMN stop_provisional boolean NOT NULL DEFAULT false;
UPDATE transactions SET received_at = created_at;
UPDATE transactions SET stop_received_at = stopped_at WHERE stopped_at IS NOT NULL;
UPDATE transactions SET energy_wh = GREATEST(meter_stop - meter_start, 0)
    WHERE meter_stop IS NOT NULL;
