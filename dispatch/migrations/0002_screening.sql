-- Screening: the verdict shown with each call, supervisors' blocks, callbacks, merged incidents.

ALTER TABLE calls ADD COLUMN screening jsonb;
ALTER TABLE incidents ADD COLUMN merged_into bigint REFERENCES incidents (id);

-- Supervisors' block/unblock decisions, newest last; the latest one per number is in force.
CREATE TABLE number_actions (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone  text NOT NULL,
    action text NOT NULL CHECK (action IN ('block', 'unblock')),
    reason text NOT NULL,
    actor  text NOT NULL,
    at     timestamptz NOT NULL
);
CREATE INDEX number_actions_phone ON number_actions (phone, id);

-- Silent calls may be genuine (NENA 56-501): each callback attempt and its result.
CREATE TABLE callback_attempts (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id bigint NOT NULL REFERENCES calls (id),
    at      timestamptz NOT NULL,
    result  text NOT NULL,
    note    text,
    actor   text NOT NULL
);
CREATE INDEX callback_attempts_call ON callback_attempts (call_id, at);
CREATE INDEX calls_ghost ON calls (received_at) WHERE outcome = 'ghost';
CREATE INDEX calls_pending ON calls (received_at) WHERE outcome IS NULL;
