-- Management (issue #12): where a site is, and chargers, connectors and sites that can be
-- removed while the bookings and transactions they had stay on record.

ALTER TABLE sites
    ADD COLUMN address   text CHECK (length(address) BETWEEN 1 AND 300),
    ADD COLUMN latitude  double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude double precision CHECK (longitude BETWEEN -180 AND 180);

-- Past bookings and transactions keep the ids of a charger that was removed (as
-- reservation_history and the message log already do), so the foreign keys that would forbid
-- the removal go. What they guaranteed for the rows that matter is kept by triggers: a live
-- booking names an existing connector of its own site, a new transaction an existing charger.
-- Each trigger's lookup takes a KEY SHARE lock, as a foreign key check does, so a removal
-- running at the same time waits for it (and then finds the booking live: 409) or is seen
-- (and the insert fails).
ALTER TABLE reservations DROP CONSTRAINT reservations_charge_point_id_connector_id_fkey;
ALTER TABLE reservations DROP CONSTRAINT reservations_site_id_fkey;
ALTER TABLE transactions DROP CONSTRAINT transactions_charge_point_id_fkey;

CREATE FUNCTION reservations_live_connector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('booked', 'active', 'charging') AND NOT EXISTS (
        SELECT 1 FROM connectors c JOIN charge_points cp ON cp.id = c.charge_point_id
        WHERE c.charge_point_id = NEW.charge_point_id AND c.connector_id = NEW.connector_id
          AND cp.site_id = NEW.site_id
        FOR KEY SHARE OF c, cp)
    THEN
        RAISE EXCEPTION 'connector % of % is not at site %',
            NEW.connector_id, NEW.charge_point_id, NEW.site_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'reservations_live_connector';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER reservations_live_connector
    BEFORE INSERT OR UPDATE OF charge_point_id, connector_id, site_id, status ON reservations
    FOR EACH ROW EXECUTE FUNCTION reservations_live_connector();

CREATE FUNCTION transactions_charge_point() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM charge_points WHERE id = NEW.charge_point_id FOR KEY SHARE) THEN
        RAISE EXCEPTION 'no charge point %', NEW.charge_point_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'transactions_charge_point';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER transactions_charge_point BEFORE INSERT ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_charge_point();
