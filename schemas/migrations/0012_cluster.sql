-- Many csms nodes on one database (one CSMS): calls to a charger whose socket another node
-- holds travel through this table. LISTEN/NOTIFY only wakes the nodes up: a notification is
-- lost while a listener reconnects, so both sides also poll, and a row is the truth.
CREATE TABLE node_commands (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The node holding the charger's socket, and the node whose caller waits for the answer.
    target_node      text NOT NULL,
    reply_node       text NOT NULL,
    charge_point_id  text NOT NULL,
    action           text NOT NULL,
    payload          jsonb NOT NULL,
    -- Not sent after this: the caller has given up by then.
    deadline         timestamptz NOT NULL,
    -- pending → taken (the target node is sending it) → done; or pending → done (expired).
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'taken', 'done')),
    -- How it ended: the charger's answer, its CALLERROR, not connected there, no answer.
    outcome          text CHECK (outcome IN ('result', 'call_error', 'not_connected', 'timeout')),
    answer           jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    done_at          timestamptz,
    CHECK ((state = 'done') = (outcome IS NOT NULL))
);
CREATE INDEX node_commands_pending ON node_commands (target_node, id) WHERE state = 'pending';
CREATE INDEX node_commands_done ON node_commands (done_at) WHERE state = 'done';
