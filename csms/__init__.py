"""csms: an OCPP 1.6J central system with advance booking of public chargers."""

__version__ = "0.1.0"
