-- Connector status history (issue #12): every StatusNotification a charger sent (S 4.9), per
-- charger and connector (0: the charger as a whole), in the order csms received them.
-- Written by the live-state writer in the same batched flush as the current status (one
-- multi-row INSERT per flush, never one per message); rows older than the retention are
-- deleted by that writer about once an hour (csms.store.status_history.purge_before).
CREATE TABLE connector_status_history (
    -- Order of writing: per charger (one node at a time holds its socket), order of arrival.
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Removing a charger removes its history (a new charger with the same id starts afresh).
    charge_point_id    text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    connector_id       integer NOT NULL CHECK (connector_id >= 0),
    status             text NOT NULL,
    error_code         text NOT NULL,
    info               text,
    vendor_error_code  text,
    -- When csms received it (chargers' clocks drift; csms orders by arrival, as for the status).
    at                 timestamptz NOT NULL
);

-- Newest first per charger, and per connector of a charger: the two reads the API makes.
CREATE INDEX connector_status_history_charge_point
    ON connector_status_history (charge_point_id, id DESC);
CREATE INDEX connector_status_history_connector
    ON connector_status_history (charge_point_id, connector_id, id DESC);
-- The purge finds old rows by time. Rows are appended in time order, so a BRIN index (a few
-- pages, next to nothing per insert) is enough.
CREATE INDEX connector_status_history_at ON connector_status_history USING brin (at);
