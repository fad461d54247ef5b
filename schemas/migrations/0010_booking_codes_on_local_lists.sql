-- Booking codes on local authorization lists (OCPP 1.6 S 3.5, 5.16), as an option per site: a
-- booking's code is put on its charger's list shortly before its window and taken off when the
-- booking ends, so a charger that is offline when the window opens still accepts the code.
ALTER TABLE sites ADD COLUMN codes_on_local_list boolean NOT NULL DEFAULT false;

-- A code meant for one charger's list (listed) or taken off it (a tombstone, until that charger
-- has been told). Numbered from the same sequence as the id tags, so one version describes a
-- charger's whole list: the id tags as of that number and its own codes as of that number.
CREATE TABLE local_list_codes (
    reservation_id   integer NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    charge_point_id  text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    code             text NOT NULL,
    -- The window's end: the charger stops accepting the code by itself then (S 7.27).
    expires_at       timestamptz NOT NULL,
    listed           boolean NOT NULL,
    list_version     bigint NOT NULL DEFAULT nextval('local_list_version'),
    PRIMARY KEY (reservation_id, charge_point_id)
);
CREATE INDEX local_list_codes_by_charger ON local_list_codes (charge_point_id, list_version);

CREATE FUNCTION local_list_codes_numbered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.code, OLD.expires_at, OLD.listed) IS DISTINCT FROM
       (NEW.code, NEW.expires_at, NEW.listed) THEN
        NEW.list_version := nextval('local_list_version');
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER local_list_codes_numbered BEFORE UPDATE ON local_list_codes
    FOR EACH ROW EXECUTE FUNCTION local_list_codes_numbered();
