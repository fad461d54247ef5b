"""The OCPP 1.6J gateway: frames, validation, per-connection sessions, handlers, transport."""
