"""Bookings, in one place (DESIGN: the booking lifecycle).

- :mod:`~csms.booking.states`: the states and the transitions allowed between them.
- :mod:`~csms.booking.dispatch`: what to do with each answer a charger gives to ReserveNow.
- :mod:`~csms.booking.codes`: booking codes, what a code is worth at a charger, the wrong-code rule.
- :mod:`~csms.booking.cost`: what a session cost, from readings as chargers really send them.
- :mod:`~csms.booking.records`: the typed rows the rest of csms sees.
- :mod:`~csms.booking.store`: SQL; :func:`~csms.booking.store.transition` is the one writer of
  a booking's status (a guarded UPDATE that writes its history row in the same statement).
- :mod:`~csms.booking.schedule`: the scheduler's queries (claims, alternatives, wake-ups).
- :mod:`~csms.workers.scheduler`: the worker that drives bookings through time.
- :mod:`~csms.booking.service`: search, book, look up, cancel — what the HTTP API calls.

The first four are pure (no asyncio, asyncpg or OCPP), tested with a clock passed in.
"""
