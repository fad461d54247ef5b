"""Many csms nodes on one PostgreSQL behaving as one CSMS: who holds each charger's socket, and
calls that travel to the node holding it. PostgreSQL is the coordination engine: tables are the
truth, LISTEN/NOTIFY only wakes nodes up."""
