-- Local authorization lists (OCPP 1.6 S 3.5, 5.11 GetLocalListVersion, 5.16 SendLocalList):
-- every connected charger that manages one gets the id tags, so it can authorize while offline.
--
-- Every change of an id tag takes a new number from one sequence (a trigger, so no writer can
-- forget it); a removed tag leaves a tombstone with its number. A charger whose list was sent at
-- version V needs exactly the tags and tombstones numbered above V (a differential update).
CREATE SEQUENCE local_list_version;

ALTER TABLE id_tags ADD COLUMN list_version bigint NOT NULL DEFAULT nextval('local_list_version');
CREATE INDEX id_tags_list_version ON id_tags (list_version);

CREATE TABLE id_tag_removals (
    tag_key       text PRIMARY KEY,  -- lower(id_tag): idTags are CiString20 (S 7.5)
    id_tag        text NOT NULL,     -- as it was written, as chargers were sent it
    list_version  bigint NOT NULL DEFAULT nextval('local_list_version')
);
CREATE INDEX id_tag_removals_list_version ON id_tag_removals (list_version);

CREATE FUNCTION id_tags_numbered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.id_tag, OLD.parent_id_tag, OLD.expiry_date, OLD.blocked)
        IS NOT DISTINCT FROM (NEW.id_tag, NEW.parent_id_tag, NEW.expiry_date, NEW.blocked) THEN
        RETURN NEW;  -- nothing a charger's list holds has changed
    END IF;
    NEW.list_version := nextval('local_list_version');
    DELETE FROM id_tag_removals WHERE tag_key = lower(NEW.id_tag);
    IF TG_OP = 'UPDATE' AND lower(OLD.id_tag) <> lower(NEW.id_tag) THEN
        INSERT INTO id_tag_removals (tag_key, id_tag) VALUES (lower(OLD.id_tag), OLD.id_tag)
        ON CONFLICT (tag_key) DO UPDATE
        SET id_tag = EXCLUDED.id_tag, list_version = nextval('local_list_version');
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER id_tags_numbered BEFORE INSERT OR UPDATE ON id_tags
    FOR EACH ROW EXECUTE FUNCTION id_tags_numbered();

CREATE FUNCTION id_tags_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO id_tag_removals (tag_key, id_tag) VALUES (lower(OLD.id_tag), OLD.id_tag)
    ON CONFLICT (tag_key) DO UPDATE
    SET id_tag = EXCLUDED.id_tag, list_version = nextval('local_list_version');
    RETURN OLD;
END $$;

CREATE TRIGGER id_tags_removed AFTER DELETE ON id_tags
    FOR EACH ROW EXECUTE FUNCTION id_tags_removed();

-- What each charger was last sent: its list is the id tags as of `version`.
CREATE TABLE local_lists (
    charge_point_id  text PRIMARY KEY REFERENCES charge_points (id) ON DELETE CASCADE,
    version          bigint NOT NULL,
    entries          integer NOT NULL,
    synced_at        timestamptz NOT NULL,
    -- Why the last attempt did not sync (the charger's answer, a list too long), if it did not.
    problem          text
);
