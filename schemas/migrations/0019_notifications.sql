-- Notifications (issue #13): a transactional outbox written by the booking writers in the same
-- statement as the change it reports, operators' webhook subscriptions, and the delivery state
-- of every event on every channel (each webhook, the driver's email).

CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    reservation_id  integer NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    -- The booking's driver: who sees it on the event stream and gets the email.
    user_id         bigint NOT NULL,
    type            text NOT NULL
                    CHECK (type IN ('booked', 'reminder', 'reserved', 'moved', 'failed',
                                    'no_show', 'cancelled', 'completed')),
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    -- Set once the delivery rows of the event exist (csms.workers.notifications: fan-out).
    fanned_out_at   timestamptz
);
-- In order per booking: the event streams and the deliveries read by booking, oldest first.
CREATE INDEX notifications_reservation ON notifications (reservation_id, id);
CREATE INDEX notifications_created ON notifications (created_at);
CREATE INDEX notifications_to_fan_out ON notifications (id) WHERE fanned_out_at IS NULL;
-- One reminder per booking and window start (a booking moved to another window is reminded
-- again); the reminder worker inserts with ON CONFLICT DO NOTHING, so nodes never double it.
CREATE UNIQUE INDEX notifications_one_reminder ON notifications (reservation_id, (payload->>'start'))
    WHERE type = 'reminder';

-- Every new event wakes the delivery workers of every node (delivered at commit, once per
-- transaction); they poll behind it. A statement trigger fires for statements that insert
-- nothing too (a transition that is no event): only those that did insert notify.
CREATE FUNCTION notifications_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM added) THEN
        PERFORM pg_notify('csms_notifications', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER notifications_wake AFTER INSERT ON notifications
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION notifications_wake();

-- Bookings whose window opens soon: what the reminder worker looks for.
CREATE INDEX reservations_starting ON reservations (lower(during))
    WHERE status IN ('booked', 'active');

CREATE TABLE webhooks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url         text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    -- The HMAC key of the X-Csms-Signature header: kept as given (it signs), never answered.
    secret      text NOT NULL CHECK (length(secret) BETWEEN 16 AND 200),
    events      text[] NOT NULL CHECK (cardinality(events) >= 1),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per event and channel: webhook_id names the webhook, NULL is the driver's email.
CREATE TABLE notification_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    reservation_id  integer NOT NULL,
    webhook_id      bigint REFERENCES webhooks (id) ON DELETE CASCADE,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- A node is sending it until then; after a crash another node sends it again.
    claimed_until   timestamptz,
    last_error      text,
    delivered_at    timestamptz,
    dead_at         timestamptz
);
CREATE UNIQUE INDEX notification_deliveries_once
    ON notification_deliveries (notification_id, COALESCE(webhook_id, 0));
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at)
    WHERE state = 'pending';
-- "Is an earlier event of this booking still pending on this channel?" (order per booking).
CREATE INDEX notification_deliveries_pending_by_booking
    ON notification_deliveries (reservation_id, notification_id) WHERE state = 'pending';
