-- GetLog (the security extension's N01) through csms's diagnostics upload locations: a request
-- with a log_type is a GetLog.req (its id is the requestId), one without is GetDiagnostics.req.
-- LogStatusNotification names its request; DiagnosticsStatusNotification does not (S 6.17).
ALTER TABLE diagnostics_requests
    ADD COLUMN log_type text CHECK (log_type IN ('DiagnosticsLog', 'SecurityLog'));

ALTER TABLE diagnostics_requests DROP CONSTRAINT diagnostics_requests_status_check;
ALTER TABLE diagnostics_requests ADD CONSTRAINT diagnostics_requests_status_check
    CHECK (status IN ('requested', 'no_diagnostics', 'rejected',
                      -- DiagnosticsStatusNotification (S 7.24)
                      'Idle', 'Uploaded', 'UploadFailed', 'Uploading',
                      -- LogStatusNotification (UploadLogStatusEnumType)
                      'BadMessage', 'NotSupportedOperation', 'PermissionDenied', 'UploadFailure'));
