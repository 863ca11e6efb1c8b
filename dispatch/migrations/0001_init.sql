-- Calls, incidents, assignments, the event log (global seq), users and tokens.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('calltaker', 'supervisor', 'agency', 'admin')),
    agency        text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- an agency account belongs to exactly one agency; centre accounts to none
    CHECK ((role = 'agency') = (agency IS NOT NULL))
);

CREATE TABLE tokens (
    -- only a hash is kept, so a database dump does not hand out live sessions
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX tokens_expiry ON tokens (expires_at);

CREATE TABLE incidents (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_ref      text UNIQUE,
    category        text NOT NULL,
    priority        smallint NOT NULL CHECK (priority BETWEEN 1 AND 4),
    lat             double precision NOT NULL,
    lon             double precision NOT NULL,
    accuracy_m      double precision,
    zone            text,
    zone_name       text,
    kecamatan       text,
    out_of_area     boolean NOT NULL,
    handover        text,
    description     text NOT NULL DEFAULT '',
    status          text NOT NULL,
    close_reason    text,
    rule_id         text NOT NULL,
    ruleset_version text NOT NULL,
    units           jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL,
    created_by      text NOT NULL,
    closed_at       timestamptz,
    CHECK ((status = 'closed') = (close_reason IS NOT NULL))
);
CREATE INDEX incidents_open ON incidents (id) WHERE status <> 'closed';

CREATE TABLE calls (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone       text NOT NULL,
    channel     text NOT NULL,
    received_at timestamptz NOT NULL,
    answered_at timestamptz,
    lat         double precision,
    lon         double precision,
    accuracy_m  double precision,
    outcome     text,
    outcome_at  timestamptz,
    note        text,
    incident_id bigint REFERENCES incidents (id),
    created_by  text NOT NULL
);
CREATE INDEX calls_phone ON calls (phone, received_at);
CREATE INDEX calls_incident ON calls (incident_id) WHERE incident_id IS NOT NULL;

CREATE TABLE assignments (
    incident_id     bigint NOT NULL REFERENCES incidents (id),
    agency          text NOT NULL,
    role            text NOT NULL CHECK (role IN ('primary', 'support')),
    status          text NOT NULL,
    rule_id         text NOT NULL,
    dispatched_at   timestamptz NOT NULL,
    acknowledged_at timestamptz,
    en_route_at     timestamptz,
    on_scene_at     timestamptz,
    resolved_at     timestamptz,
    declined_at     timestamptz,
    cancelled_at    timestamptz,
    note            text,
    PRIMARY KEY (incident_id, agency)
);
CREATE INDEX assignments_agency_live ON assignments (agency, incident_id)
    WHERE status NOT IN ('resolved', 'declined', 'cancelled');

-- The audit trail and the source of every screen's resync. Append-only.
CREATE TABLE events (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type        text NOT NULL,
    incident_id bigint,
    call_id     bigint,
    actor       text NOT NULL,
    at          timestamptz NOT NULL,
    agencies    text[] NOT NULL DEFAULT '{}',
    data        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_agencies ON events USING gin (agencies);
CREATE INDEX events_incident ON events (incident_id, seq) WHERE incident_id IS NOT NULL;
