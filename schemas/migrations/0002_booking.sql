-- Booking: tariffs per site, reservations with their history, and what the CSMS learns of a
-- charger's reservation support.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- One tariff per site; periods are validated by the application (csms.domain.tariffs) and kept
-- as they were given, in the site's local time.
CREATE TABLE tariffs (
    site_id                     bigint PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    currency                    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reservation_fee_per_hour    numeric(12, 4) NOT NULL CHECK (reservation_fee_per_hour >= 0),
    session_fee                 numeric(12, 4) NOT NULL CHECK (session_fee >= 0),
    periods                     jsonb NOT NULL,
    updated_at                  timestamptz NOT NULL DEFAULT now()
);

-- What GetConfiguration told us (S 9.1): NULL = not asked yet since the last boot.
ALTER TABLE charge_points
    ADD COLUMN supported_profiles text[],
    ADD COLUMN reserve_connector_zero boolean;

-- An operator can take a connector out of service: it is then never offered for booking.
ALTER TABLE connectors ADD COLUMN out_of_service boolean NOT NULL DEFAULT false;

CREATE TABLE reservations (
    -- Doubles as the OCPP reservationId (int32, S 6.37): never reused, so a new booking can
    -- never replace another one on a charger.
    id                  integer GENERATED ALWAYS AS IDENTITY (MAXVALUE 2147483647) PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users (id),
    charge_point_id     text NOT NULL,
    connector_id        integer NOT NULL,
    during              tstzrange NOT NULL
                        CHECK (NOT isempty(during) AND lower_inc(during) AND NOT upper_inc(during)
                               AND NOT lower_inf(during) AND NOT upper_inf(during)),
    code                text NOT NULL CHECK (code ~ '^[0-9]{4,20}$'),
    status              text NOT NULL
                        CHECK (status IN ('booked', 'active', 'charging', 'completed',
                                          'cancelled', 'expired', 'failed')),
    status_reason       text,
    -- The quote the driver booked at (currency, fees, periods, estimate), and the tariff it
    -- came from: the session is charged by it even if the site's tariff changes meanwhile.
    price               jsonb NOT NULL,
    tariff              jsonb NOT NULL,
    timezone            text NOT NULL,
    parent_id_tag       text,
    idempotency_key     text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    -- Scheduler bookkeeping: when to look at this booking next, and who holds it meanwhile.
    next_action_at      timestamptz,
    claimed_until       timestamptz,
    dispatch_attempts   integer NOT NULL DEFAULT 0,
    -- When ReserveNow was accepted (or the CSMS took over enforcement): the code works from then.
    dispatched_at       timestamptz,
    -- Reserved on the charger itself (so cancelling must send CancelReservation).
    on_charger          boolean NOT NULL DEFAULT false,
    transaction_id      integer REFERENCES transactions (id),
    energy_kwh          numeric(12, 3),
    cost                numeric(12, 2),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (charge_point_id, connector_id) REFERENCES connectors (charge_point_id, connector_id),
    -- No double booking, ever: two live bookings of one connector never overlap.
    CONSTRAINT reservations_no_overlap EXCLUDE USING gist
        (charge_point_id WITH =, connector_id WITH =, during WITH &&)
        WHERE (status IN ('booked', 'active', 'charging'))
);
-- A code names one live booking (compared without case, like every idTag).
CREATE UNIQUE INDEX reservations_live_code ON reservations (lower(code))
    WHERE status IN ('booked', 'active', 'charging');
CREATE INDEX reservations_code ON reservations (lower(code), id DESC);
CREATE UNIQUE INDEX reservations_idempotency ON reservations (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX reservations_due ON reservations (next_action_at)
    WHERE status IN ('booked', 'active');
CREATE INDEX reservations_user ON reservations (user_id, id DESC);
CREATE INDEX reservations_transaction ON reservations (transaction_id);

CREATE TABLE reservation_history (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reservation_id  integer NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    status          text NOT NULL,
    reason          text,
    charge_point_id text,
    connector_id    integer
);
CREATE INDEX reservation_history_reservation ON reservation_history (reservation_id, id);
