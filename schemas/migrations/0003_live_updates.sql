-- Live updates: when a charger's connection changed, and indexes to find recent changes.

ALTER TABLE charge_points ADD COLUMN connection_changed_at timestamptz;

-- Kept by the database, so every writer (any node, any code path) updates it.
CREATE FUNCTION charge_points_connection_changed() RETURNS trigger AS $$
BEGIN
    IF NEW.connected_node IS DISTINCT FROM OLD.connected_node THEN
        NEW.connection_changed_at := clock_timestamp();
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER charge_points_connection_changed
    BEFORE UPDATE OF connected_node ON charge_points
    FOR EACH ROW EXECUTE FUNCTION charge_points_connection_changed();

CREATE INDEX charge_points_connection_changed ON charge_points (connection_changed_at);
CREATE INDEX charge_points_status_at ON charge_points (status_at);
CREATE INDEX connectors_status_at ON connectors (status_at);
CREATE INDEX reservations_updated ON reservations (updated_at);
