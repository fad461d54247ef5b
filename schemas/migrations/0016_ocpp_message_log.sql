-- The OCPP message log: every frame in and out, per charger, as it passed the socket.
-- Written in batches (COPY) off the hot path; kept in one partition per UTC day so that old days
-- are dropped whole (DROP TABLE, no DELETE and no vacuum); csms creates the partitions ahead of
-- time (csms.store.message_log). Rows for a day without a partition land in the default one.
-- No foreign key to charge_points: the log outlives nothing and slows no insert.
CREATE SEQUENCE ocpp_messages_id_seq AS bigint;

CREATE TABLE ocpp_messages (
    -- Order of writing: on one charger (one node at a time holds its socket), order of passing.
    id               bigint NOT NULL DEFAULT nextval('ocpp_messages_id_seq'),
    at               timestamptz NOT NULL,
    charge_point_id  text NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('in', 'out')),
    message_type     text NOT NULL
                     CHECK (message_type IN ('CALL', 'CALLRESULT', 'CALLERROR', 'INVALID')),
    -- The CALL's action, also on its answer when known.
    action           text,
    message_id       text NOT NULL,
    -- The frame exactly as sent or received (text, not jsonb: nothing to parse on insert, and an
    -- INVALID frame is kept as it came, NULs escaped).
    frame            text NOT NULL,
    node             text NOT NULL
) PARTITION BY RANGE (at);
ALTER SEQUENCE ocpp_messages_id_seq OWNED BY ocpp_messages.id;

CREATE TABLE ocpp_messages_default PARTITION OF ocpp_messages DEFAULT;

-- Newest first per charger. Every read names its charger, so this one index serves the filters
-- too (a charger's week is thousands of rows); each more index would cost every batch.
CREATE INDEX ocpp_messages_charge_point ON ocpp_messages (charge_point_id, id DESC);
