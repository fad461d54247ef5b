-- The OCPP 1.6 security extension ("Improved security for OCPP 1.6-J", OCA white paper):
-- what chargers report about their security, log uploads and signed firmware updates.

-- SecurityEventNotification (use case A04): every event is kept, per charger — the part of the
-- charger's security log the CSMS was told about. type and techInfo as 1.6 limits them.
CREATE TABLE security_events (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charge_point_id     text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    type                text NOT NULL CHECK (length(type) <= 50),
    tech_info           text CHECK (length(tech_info) <= 255),
    -- The charger's timestamp of the event (its clock); received_at is ours.
    occurred_at         timestamptz NOT NULL,
    received_at         timestamptz NOT NULL,
    -- Whether the white paper's table of security events lists the type as critical, decided
    -- when it arrived: what operators were alerted to stays as it was.
    critical            boolean NOT NULL
);
-- GET /api/v1/charge-points/{id}/security-events: a charger's, newest first.
CREATE INDEX security_events_cp ON security_events (charge_point_id, id DESC);
-- The live feed reads the critical ones received lately.
CREATE INDEX security_events_critical ON security_events (received_at) WHERE critical;

-- The latest LogStatusNotification (N01) and SignedFirmwareStatusNotification (L01) of each
-- charger, one row per kind: the history of both is in charge_point_events, as for the 1.6
-- firmware and diagnostics notifications. A table, not columns of charge_points, so that the
-- charger's row (and every answer built from it) stays as it is, and a further kind is a row.
CREATE TABLE charge_point_status_reports (
    charge_point_id     text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    kind                text NOT NULL CHECK (kind IN ('log', 'signed_firmware')),
    status              text NOT NULL,
    -- 1.6 gives requestId as a bare "integer": bigint takes whatever a charger echoes back.
    request_id          bigint,
    reported_at         timestamptz NOT NULL,
    PRIMARY KEY (charge_point_id, kind)
);
