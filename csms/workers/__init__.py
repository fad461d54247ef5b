"""Background work of a csms node, each worker supervised by :mod:`csms.workers.supervisor`."""
