-- Booking terms (issue #13): each site may set its own; a booking keeps the terms it was made
-- under, and holds its connector a little wider than its window (early start, late stop,
-- buffer: csms/domain/terms.py). The exclusion constraint moves from the window to what is
-- held, so no two bookings of a connector ever hold overlapping time.

ALTER TABLE sites
    -- Only the terms the operator set; the installation's defaults fill in the rest.
    ADD COLUMN terms jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(terms) = 'object');

ALTER TABLE reservations
    ADD COLUMN terms jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(terms) = 'object'),
    ADD COLUMN held tstzrange;

-- Bookings made before terms existed were held for their whole window: they still are.
UPDATE reservations SET held = during, terms = '{"noshow_timeout_minutes": 1440}';

ALTER TABLE reservations
    ALTER COLUMN held SET NOT NULL,
    ADD CONSTRAINT reservations_held_covers_window CHECK (held @> during AND NOT upper_inf(held)
                                                          AND NOT lower_inf(held)),
    DROP CONSTRAINT reservations_no_overlap,
    ADD CONSTRAINT reservations_no_overlap EXCLUDE USING gist
        (charge_point_id WITH =, connector_id WITH =, held WITH &&)
        WHERE (status IN ('booked', 'active', 'charging'));

-- A booking written without margins holds just its window.
CREATE FUNCTION reservations_held_default() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.held := COALESCE(NEW.held, NEW.during);
    RETURN NEW;
END $$;
CREATE TRIGGER reservations_held_default BEFORE INSERT ON reservations
    FOR EACH ROW EXECUTE FUNCTION reservations_held_default();
