-- OCPP 1.6 Firmware Management (S 4.4, 4.5, 5.9, 5.19): the files csms stores and serves to
-- chargers, the firmware updates sent (UpdateFirmware) and the diagnostics asked for
-- (GetDiagnostics), each with the latest status the charger reported.

-- A file's contents live on disk under CSMS_DATA_DIR/files, named by their sha256 (written
-- once, never changed); this is what csms knows about them. Two rows may share one content.
CREATE TABLE stored_files (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('firmware', 'diagnostics')),
    -- A display name, never a path: no separators, no NUL, no leading dot, bounded.
    name                text NOT NULL CHECK (
                            name ~ '^[A-Za-z0-9_+~-][A-Za-z0-9._+~-]{0,199}$'),
    size_bytes          bigint NOT NULL CHECK (size_bytes >= 0),
    sha256              text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- When the upload began and when it was complete (the contents were on disk).
    upload_started_at   timestamptz NOT NULL,
    created_at          timestamptz NOT NULL,
    -- The operator who uploaded a firmware image; NULL for a charger's diagnostics.
    uploaded_by         bigint REFERENCES users (id) ON DELETE SET NULL
);
-- GET /api/v1/firmware: newest first.
CREATE INDEX stored_files_kind ON stored_files (kind, id DESC);

-- UpdateFirmware.req (S 6.55) sent to a charger. The token is the capability in the location
-- (/ocpp-files/firmware/{token}/{name}): chargers cannot present API credentials.
CREATE TABLE firmware_updates (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charge_point_id     text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    file_id             bigint NOT NULL REFERENCES stored_files (id),
    token               text NOT NULL UNIQUE,
    location            text NOT NULL,
    requested_at        timestamptz NOT NULL,
    retrieve_at         timestamptz NOT NULL,
    retries             integer CHECK (retries >= 0),
    retry_interval      integer CHECK (retry_interval >= 0),
    -- 'requested', then the latest FirmwareStatusNotification.req status (S 6.19, 7.25).
    status              text NOT NULL CHECK (status IN ('requested', 'Downloaded',
                            'DownloadFailed', 'Downloading', 'Idle', 'InstallationFailed',
                            'Installing', 'Installed')),
    status_at           timestamptz NOT NULL,
    requested_by        bigint REFERENCES users (id) ON DELETE SET NULL
);
-- A charger's updates, newest first; its latest is the one its notifications report on.
CREATE INDEX firmware_updates_cp ON firmware_updates (charge_point_id, id DESC);

-- GetDiagnostics.req (S 6.25) sent to a charger; the token is the capability of its upload
-- location (/ocpp-files/diagnostics/{token}/), good for one upload.
CREATE TABLE diagnostics_requests (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charge_point_id     text NOT NULL REFERENCES charge_points (id) ON DELETE CASCADE,
    token               text NOT NULL UNIQUE,
    location            text NOT NULL,
    requested_at        timestamptz NOT NULL,
    start_time          timestamptz,
    stop_time           timestamptz,
    retries             integer CHECK (retries >= 0),
    retry_interval      integer CHECK (retry_interval >= 0),
    -- GetDiagnostics.conf (S 6.26): the fileName the charger will upload; absent when it has
    -- no diagnostics (diagnostics_available false). NULL availability: no answer yet.
    file_name           text CHECK (length(file_name) <= 255),
    diagnostics_available boolean,
    -- 'requested', 'no_diagnostics' (answered without a fileName), then the latest
    -- DiagnosticsStatusNotification.req status (S 6.17, 7.24).
    status              text NOT NULL CHECK (status IN ('requested', 'no_diagnostics', 'Idle',
                            'Uploaded', 'UploadFailed', 'Uploading')),
    status_at           timestamptz NOT NULL,
    -- The file the charger uploaded to the location; NULL until it arrives.
    file_id             bigint REFERENCES stored_files (id),
    requested_by        bigint REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX diagnostics_requests_cp ON diagnostics_requests (charge_point_id, id DESC);
