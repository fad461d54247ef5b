-- Foundation: sites, charge points, connectors, id tags, users and tokens, transactions,
-- meter values, and what chargers report about themselves.
-- Forward-only: a later change is a new numbered file, never an edit of this one.

CREATE TABLE sites (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone    text NOT NULL CHECK (length(timezone) BETWEEN 1 AND 64),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- CSMS processes sharing this database; a charger is online while the node holding its socket
-- is alive (heartbeat_at recent).
CREATE TABLE nodes (
    id              text PRIMARY KEY,
    started_at      timestamptz NOT NULL DEFAULT now(),
    heartbeat_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE charge_points (
    id                      text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._~:-]{1,48}$'),
    site_id                 bigint REFERENCES sites (id),
    -- 'pending': admitted by CSMS_AUTO_REGISTER, waiting for an operator (S 4.2: Pending).
    registration_status     text NOT NULL DEFAULT 'accepted'
                            CHECK (registration_status IN ('accepted', 'pending', 'rejected')),
    -- scrypt hash of the AuthorizationKey (SEC profile 1); NULL: no Basic auth asked for.
    authorization_key_hash  text,
    vendor                  text,
    model                   text,
    serial_number           text,
    charge_box_serial_number text,
    firmware_version        text,
    iccid                   text,
    imsi                    text,
    meter_type              text,
    meter_serial_number     text,
    booted_at               timestamptz,
    last_seen_at            timestamptz,
    -- The node holding the charger's socket; NULL when it is not connected.
    connected_node          text,
    connected_at            timestamptz,
    -- Connector 0 (the charge point as a whole) as reported by StatusNotification.
    status                  text,
    error_code              text,
    status_at               timestamptz,
    firmware_status         text,
    firmware_status_at      timestamptz,
    diagnostics_status      text,
    diagnostics_status_at   timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charge_points_site ON charge_points (site_id);

CREATE TABLE connectors (
    charge_point_id     text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    connector_id        integer NOT NULL CHECK (connector_id >= 1),
    -- NULL type/power: reported by the charger but not registered by an operator (not bookable).
    connector_type      text,
    max_power_kw        numeric(8, 2) CHECK (max_power_kw > 0),
    status              text,
    error_code          text,
    info                text,
    vendor_error_code   text,
    status_at           timestamptz,
    PRIMARY KEY (charge_point_id, connector_id)
);

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash   text NOT NULL,
    name            text,
    role            text NOT NULL CHECK (role IN ('driver', 'operator')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE api_tokens (
    -- SHA-256 of the bearer token: a stolen database does not hand out sessions.
    token_hash  bytea PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_expiry ON api_tokens (expires_at);

CREATE TABLE id_tags (
    id_tag          text NOT NULL CHECK (length(id_tag) BETWEEN 1 AND 20),
    parent_id_tag   text CHECK (length(parent_id_tag) BETWEEN 1 AND 20),
    expiry_date     timestamptz,
    blocked         boolean NOT NULL DEFAULT false,
    user_id         bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- idTags are CiString20 (S 7.5): unique regardless of case.
CREATE UNIQUE INDEX id_tags_key ON id_tags (lower(id_tag));

CREATE TABLE transactions (
    -- OCPP transactionId is an int32 (S 6.46): the identity stays within it.
    id                  integer GENERATED ALWAYS AS IDENTITY (MAXVALUE 2147483647) PRIMARY KEY,
    charge_point_id     text NOT NULL REFERENCES charge_points (id),
    connector_id        integer NOT NULL CHECK (connector_id >= 1),
    id_tag              text NOT NULL,
    -- What the CSMS answered in StartTransaction.conf.
    id_tag_status       text NOT NULL,
    reservation_id      integer,
    meter_start         bigint NOT NULL,
    started_at          timestamptz NOT NULL,
    meter_stop          bigint,
    stopped_at          timestamptz,
    stop_reason         text,
    stop_id_tag         text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- A charger retrying StartTransaction sends the same connector and timestamp: the retry
    -- finds this row instead of opening a second transaction.
    CONSTRAINT transactions_start_once UNIQUE (charge_point_id, connector_id, started_at)
);
CREATE INDEX transactions_open ON transactions (charge_point_id, connector_id) WHERE stopped_at IS NULL;
CREATE INDEX transactions_open_tag ON transactions (lower(id_tag)) WHERE stopped_at IS NULL;
CREATE INDEX transactions_started ON transactions (started_at DESC, id DESC);

CREATE TABLE meter_values (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charge_point_id     text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    connector_id        integer NOT NULL CHECK (connector_id >= 0),
    transaction_id      integer REFERENCES transactions (id),
    sampled_at          timestamptz NOT NULL,
    measurand           text NOT NULL,
    phase               text,
    location            text,
    context             text,
    format              text,
    unit                text,
    value               text NOT NULL,
    -- A retried MeterValues (or transactionData) stores nothing twice.
    CONSTRAINT meter_values_once UNIQUE NULLS NOT DISTINCT
        (charge_point_id, connector_id, sampled_at, measurand, phase, location, context)
);
CREATE INDEX meter_values_transaction ON meter_values (transaction_id, sampled_at);

-- What chargers tell that has no table of its own (DataTransfer, diagnostics, firmware).
CREATE TABLE charge_point_events (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charge_point_id     text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    kind                text NOT NULL,
    payload             jsonb NOT NULL,
    received_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charge_point_events_cp ON charge_point_events (charge_point_id, received_at DESC);
