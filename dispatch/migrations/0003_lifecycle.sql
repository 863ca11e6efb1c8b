-- Lifecycle: escalation state kept in the database (so deadlines survive a restart), the
-- screen each change came from, and which call times the telephony itself reported.

ALTER TABLE assignments ADD COLUMN escalation_level smallint NOT NULL DEFAULT 0;
CREATE INDEX assignments_waiting ON assignments (dispatched_at) WHERE status = 'dispatched';

ALTER TABLE events ADD COLUMN via text NOT NULL DEFAULT 'api';
CREATE INDEX events_actor ON events (actor, seq);
CREATE INDEX events_at ON events (at);

-- true when received_at came from the caller's side (a telephony gateway), so the answer time
-- (received -> answered) is a measurement and not the call-taker's own keying time.
ALTER TABLE calls ADD COLUMN telephony boolean NOT NULL DEFAULT false;
CREATE INDEX calls_received ON calls (received_at);
