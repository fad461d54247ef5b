"""Application services: a domain decision with the store reads and writes around it.

The OCPP handlers and HTTP views call these; these call :mod:`csms.domain` for every rule and
:mod:`csms.store` for every query, and know nothing of either protocol.
"""
