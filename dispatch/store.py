"""The only module with SQL: the asyncpg pool, migrations, and the queries as named constants.

Methods take and return domain records from ``incidents``; they make no decisions and never
publish anything (the writer publishes after commit).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import TypeAlias, cast

import asyncpg
import orjson

from dispatch.incidents import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    CallRecord,
    Channel,
    CloseReason,
    Event,
    Incident,
    IncidentStatus,
    JSONObject,
    Location,
    NewCall,
    NewEvent,
    User,
    UserRole,
)
from dispatch.screening import OpenIncident

log = logging.getLogger(__name__)

Record: TypeAlias = asyncpg.Record
Pool: TypeAlias = "asyncpg.Pool[Record]"
Connection: TypeAlias = "asyncpg.Connection[Record] | asyncpg.pool.PoolConnectionProxy[Record]"

# Errors that mean "the database is not there right now" rather than "this request is wrong".
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    TimeoutError,
)

# Serialises concurrent start-ups of several app processes on one database.
MIGRATION_LOCK_ID = 112_0001


async def _init_connection(conn: Connection) -> None:
    for kind in ("jsonb", "json"):
        await conn.set_type_codec(
            kind,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def create_pool(dsn: str, *, min_size: int, max_size: int) -> Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30
    )
    assert pool is not None
    return pool


# --- migrations ----------------------------------------------------------------------------

CREATE_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""
SELECT_MIGRATIONS = "SELECT version, checksum FROM schema_migrations"
INSERT_MIGRATION = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """The numbered ``NNNN_name.sql`` files shipped in ``dispatch/migrations``."""
    found = []
    for entry in resources.files("dispatch.migrations").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    return sorted(found, key=lambda m: m.version)


async def migrate(pool: Pool) -> list[str]:
    """Apply the migrations not yet recorded; each in its own transaction. Idempotent."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            await conn.execute(CREATE_MIGRATIONS)
            done = {r["version"]: r["checksum"] for r in await conn.fetch(SELECT_MIGRATIONS)}
            for m in load_migrations():
                if m.version in done:
                    if done[m.version] != m.checksum:
                        log.warning(
                            "migration %04d_%s changed after it was applied", m.version, m.name
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(INSERT_MIGRATION, m.version, m.name, m.checksum)
                applied.append(f"{m.version:04d}_{m.name}")
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied


# --- queries -------------------------------------------------------------------------------

UPSERT_USER = """
INSERT INTO users (username, password_hash, role, agency) VALUES ($1, $2, $3, $4)
ON CONFLICT (username) DO NOTHING"""
SELECT_LOGIN = "SELECT id, username, role, agency, password_hash FROM users WHERE username = $1"
UPDATE_PASSWORD_HASH = "UPDATE users SET password_hash = $2 WHERE id = $1"
INSERT_TOKEN = """
INSERT INTO tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)"""
SELECT_TOKEN_USER = """
SELECT u.id, u.username, u.role, u.agency, t.expires_at
FROM tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = $1 AND t.expires_at > $2"""

INSERT_CALL = """
INSERT INTO calls (phone, channel, received_at, answered_at, lat, lon, accuracy_m, created_by,
    screening, telephony)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *"""
CLOSE_CALL = """
UPDATE calls SET outcome = $2, outcome_at = $3, note = $4 WHERE id = $1 RETURNING *"""
UNLINK_CALL = """
UPDATE calls SET incident_id = NULL, outcome = NULL, outcome_at = NULL WHERE id = $1
RETURNING *"""
MOVE_CALLS = "UPDATE calls SET incident_id = $2 WHERE incident_id = $1"
# A caller's record for screening: the last 30 days is all the policy looks at.
CALLER_HISTORY = """
SELECT id, received_at, outcome, incident_id, lat IS NOT NULL AS has_location,
    extract(epoch FROM outcome_at - answered_at) AS duration_s
FROM calls WHERE phone = $1 AND received_at > $2 AND id <> $3
ORDER BY received_at DESC LIMIT 500"""
NUMBER_STATE = """
SELECT
    (SELECT row_to_json(n) FROM (SELECT action, reason, actor, at FROM number_actions
        WHERE phone = $1 ORDER BY id DESC LIMIT 1) n) AS latest,
    (SELECT max(at) FROM number_actions WHERE phone = $1 AND action = 'unblock') AS unblocked_at"""
INSERT_NUMBER_ACTION = """
INSERT INTO number_actions (phone, action, reason, actor, at) VALUES ($1, $2, $3, $4, $5)"""
LIST_PENDING_CALLS = """
SELECT * FROM calls WHERE outcome IS NULL AND received_at > $1 ORDER BY received_at LIMIT 200"""
# Silent calls of the last day not yet reached by a callback, with their attempts.
LIST_CALLBACKS = """
SELECT c.id, c.phone, c.received_at,
    coalesce((SELECT json_agg(json_build_object('at', a.at, 'result', a.result, 'note', a.note,
        'actor', a.actor) ORDER BY a.at) FROM callback_attempts a WHERE a.call_id = c.id),
        '[]') AS attempts
FROM calls c
WHERE c.outcome = 'ghost' AND c.received_at > $1 AND NOT EXISTS (
    SELECT 1 FROM callback_attempts a WHERE a.call_id = c.id AND a.result <> 'no_answer'
    AND a.result <> 'busy')
ORDER BY c.received_at"""
INSERT_CALLBACK = """
INSERT INTO callback_attempts (call_id, at, result, note, actor) VALUES ($1, $2, $3, $4, $5)"""
# KPI inputs: durations between recorded timestamps only (a missing step stays missing).
ANSWER_TIMES = """
SELECT extract(epoch FROM answered_at - received_at)::float8 AS s FROM calls
WHERE telephony AND answered_at IS NOT NULL AND received_at >= $1 AND received_at < $2"""
PROCESSING_TIMES = """
SELECT i.category, extract(epoch FROM (SELECT min(a.dispatched_at) FROM assignments a
    WHERE a.incident_id = i.id) - c.answered_at)::float8 AS s
FROM incidents i JOIN calls c ON c.incident_id = i.id AND c.outcome = 'incident'
WHERE i.created_at >= $1 AND i.created_at < $2 AND c.answered_at IS NOT NULL"""
# A dispatch stood down before anyone acknowledged it was never the agency's to answer.
DISPATCH_TIMES = """
SELECT a.agency, i.category, i.priority,
    extract(epoch FROM a.acknowledged_at - a.dispatched_at)::float8 AS ack_s,
    extract(epoch FROM a.on_scene_at - a.dispatched_at)::float8 AS response_s,
    extract(epoch FROM a.resolved_at - a.dispatched_at)::float8 AS resolution_s
FROM assignments a JOIN incidents i ON i.id = a.incident_id
WHERE a.dispatched_at >= $1 AND a.dispatched_at < $2
    AND NOT (a.status = 'cancelled' AND a.acknowledged_at IS NULL)"""
# NULL filters match everything; the snapshot is left out: the audit is about what changed.
LIST_AUDIT = """
SELECT seq, type, incident_id, call_id, actor, via, at, agencies, data - 'incident' AS data
FROM events
WHERE ($1::bigint IS NULL OR incident_id = $1) AND ($2::text IS NULL OR actor = $2)
    AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)
ORDER BY seq LIMIT $5"""
CALL_OUTCOMES = """
SELECT received_at, outcome FROM calls WHERE received_at >= $1 AND received_at < $2"""
SELECT_CALL = "SELECT * FROM calls WHERE id = $1"
LINK_CALL = "UPDATE calls SET incident_id = $2, outcome = $3, outcome_at = $4 WHERE id = $1"

SELECT_INCIDENT_BY_REF = "SELECT id FROM incidents WHERE client_ref = $1"
# Intake in one round trip: the incident (unless its client_ref exists), its assignments and
# its call. Foreign keys are checked at the end of the statement, so the children may name
# the incident inserted beside them. No row back: a retry ($1 exists) or a call not open.
_OPEN_INCIDENT = """
WITH i AS (
    INSERT INTO incidents (client_ref, category, priority, lat, lon, accuracy_m, zone,
        zone_name, kecamatan, out_of_area, handover, description, status, rule_id,
        ruleset_version, units, created_at, created_by)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18
    WHERE {call_is_open}
    ON CONFLICT (client_ref) DO NOTHING
    RETURNING id
), a AS (
    INSERT INTO assignments (incident_id, agency, role, status, rule_id, dispatched_at)
    SELECT i.id, x.agency, x.role, 'dispatched', $14, $17
    FROM i, unnest($19::text[], $20::text[]) AS x (agency, role)
), c AS (
    {call}
)
SELECT * FROM c"""
OPEN_INCIDENT_NEW_CALL = _OPEN_INCIDENT.format(
    call_is_open="true",
    call="""INSERT INTO calls (phone, channel, received_at, answered_at, lat, lon, accuracy_m,
        created_by, incident_id, outcome, outcome_at)
    SELECT $21, 'voice', $17, $17, $4, $5, $6, $18, i.id, 'incident', $17 FROM i
    RETURNING *""",
)
OPEN_INCIDENT_FOR_CALL = _OPEN_INCIDENT.format(
    call_is_open="EXISTS (SELECT 1 FROM calls WHERE id = $21::bigint AND outcome IS NULL)",
    call="""UPDATE calls SET incident_id = i.id, outcome = 'incident', outcome_at = $17
    FROM i WHERE calls.id = $21::bigint
    RETURNING calls.*""",
)
UPDATE_INCIDENT_STATUS = """
UPDATE incidents SET status = $2, close_reason = $3, closed_at = $4 WHERE id = $1"""
# The whole row, so that one statement serves a status change, a re-added agency and a merge.
SAVE_ASSIGNMENT = """
INSERT INTO assignments (incident_id, agency, role, status, rule_id, dispatched_at,
    acknowledged_at, en_route_at, on_scene_at, resolved_at, declined_at, cancelled_at, note,
    escalation_level)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (incident_id, agency) DO UPDATE SET role = excluded.role, status = excluded.status,
    rule_id = excluded.rule_id, dispatched_at = excluded.dispatched_at,
    acknowledged_at = excluded.acknowledged_at, en_route_at = excluded.en_route_at,
    on_scene_at = excluded.on_scene_at, resolved_at = excluded.resolved_at,
    declined_at = excluded.declined_at, cancelled_at = excluded.cancelled_at,
    note = excluded.note, escalation_level = excluded.escalation_level"""
SET_MERGED_INTO = "UPDATE incidents SET merged_into = $2 WHERE id = $1"
# What the duplicate index needs of each open incident, with every caller's number.
LIST_OPEN_FOR_INDEX = """
SELECT i.id, i.category, i.lat, i.lon, i.created_at,
    coalesce(array_agg(c.phone) FILTER (WHERE c.phone IS NOT NULL), '{}') AS phones
FROM incidents i LEFT JOIN calls c ON c.incident_id = i.id
WHERE i.status <> 'closed' GROUP BY i.id"""

# One round trip for an incident with its assignments and calls.
_INCIDENT_VIEW = """
SELECT i.*,
    coalesce((SELECT json_agg(a ORDER BY a.role, a.dispatched_at, a.agency) FROM assignments a
              WHERE a.incident_id = i.id), '[]') AS assignment_rows,
    coalesce((SELECT json_agg(c ORDER BY c.id) FROM calls c
              WHERE c.incident_id = i.id), '[]') AS call_rows
FROM incidents i"""
SELECT_INCIDENT = _INCIDENT_VIEW + " WHERE i.id = $1"
SELECT_INCIDENT_FOR_UPDATE = "SELECT id FROM incidents WHERE id = $1 FOR UPDATE"
# $1 NULL means the centre (every open incident); otherwise the agency's live assignments.
# Built from constant pieces only (S608 cannot see that); every value is a $n parameter.
LIST_OPEN_INCIDENTS = (
    _INCIDENT_VIEW  # noqa: S608
    + """
WHERE i.status <> 'closed' AND ($1::text IS NULL OR EXISTS (
    SELECT 1 FROM assignments a WHERE a.incident_id = i.id AND a.agency = $1
    AND a.status NOT IN ('resolved', 'declined', 'cancelled')))
ORDER BY i.priority, i.id"""
)

INSERT_EVENTS = """
INSERT INTO events (type, actor, at, incident_id, call_id, agencies, data, via)
SELECT e.type, e.actor, e.at, e.incident_id, e.call_id,
    string_to_array(e.agencies, ','), e.data, e.via
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[],
            $6::text[], $7::jsonb[], $8::text[]) WITH ORDINALITY
    AS e (type, actor, at, incident_id, call_id, agencies, data, via, ord)
ORDER BY e.ord
RETURNING seq"""
# $2 NULL means the centre, which sees every event.
LIST_EVENTS_AFTER = """
SELECT * FROM events WHERE seq > $1 AND ($2::text IS NULL OR $2 = ANY (agencies))
ORDER BY seq LIMIT $3"""
LIST_EVENTS_BETWEEN = """
SELECT * FROM events WHERE seq > $1 AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq"""
LIST_INCIDENT_EVENTS = "SELECT * FROM events WHERE incident_id = $1 ORDER BY seq"
SELECT_LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM events"


# --- row mapping ---------------------------------------------------------------------------


def _ts(value: object) -> datetime | None:
    """Timestamps arrive as datetimes from columns and as ISO strings from json_agg."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _location(row: Record | dict[str, object]) -> Location | None:
    lat, lon = row["lat"], row["lon"]
    if lat is None or lon is None:
        return None
    accuracy = row["accuracy_m"]
    return Location(
        float(cast(float, lat)),
        float(cast(float, lon)),
        float(cast(float, accuracy)) if accuracy is not None else None,
    )


def _call(row: Record | dict[str, object]) -> CallRecord:
    received = _ts(row["received_at"])
    assert received is not None
    return CallRecord(
        id=int(cast(int, row["id"])),
        phone=str(row["phone"]),
        channel=Channel(str(row["channel"])),
        received_at=received,
        location=_location(row),
        outcome=cast(str | None, row["outcome"]),
        incident_id=cast(int | None, row["incident_id"]),
        outcome_at=_ts(row["outcome_at"]),
        note=cast(str | None, row["note"]),
        screening=cast("JSONObject | None", row["screening"]),
    )


def _assignment(row: dict[str, object]) -> Assignment:
    dispatched = _ts(row["dispatched_at"])
    assert dispatched is not None
    return Assignment(
        agency=str(row["agency"]),
        role=AssignmentRole(str(row["role"])),
        status=AssignmentStatus(str(row["status"])),
        rule_id=str(row["rule_id"]),
        dispatched_at=dispatched,
        acknowledged_at=_ts(row["acknowledged_at"]),
        en_route_at=_ts(row["en_route_at"]),
        on_scene_at=_ts(row["on_scene_at"]),
        resolved_at=_ts(row["resolved_at"]),
        declined_at=_ts(row["declined_at"]),
        cancelled_at=_ts(row["cancelled_at"]),
        note=cast(str | None, row["note"]),
        escalation_level=int(cast(int, row["escalation_level"])),
    )


def _incident(row: Record) -> Incident:
    location = _location(row)
    assert location is not None
    return Incident(
        id=row["id"],
        category=row["category"],
        priority=row["priority"],
        location=location,
        zone=row["zone"],
        zone_name=row["zone_name"],
        kecamatan=row["kecamatan"],
        out_of_area=row["out_of_area"],
        handover=row["handover"],
        description=row["description"],
        status=IncidentStatus(row["status"]),
        close_reason=CloseReason(row["close_reason"]) if row["close_reason"] else None,
        rule_id=row["rule_id"],
        ruleset_version=row["ruleset_version"],
        units=tuple(row["units"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        client_ref=row["client_ref"],
        closed_at=row["closed_at"],
        merged_into=row["merged_into"],
        assignments=tuple(_assignment(a) for a in row["assignment_rows"]),
        calls=tuple(_call(c) for c in row["call_rows"]),
    )


def _event(row: Record) -> Event:
    return Event(
        seq=row["seq"],
        type=row["type"],
        actor=row["actor"],
        at=row["at"],
        incident_id=row["incident_id"],
        call_id=row["call_id"],
        agencies=tuple(row["agencies"]),
        data=row["data"],
        via=row["via"],
    )


def _user(row: Record) -> User:
    return User(
        id=row["id"], username=row["username"], role=UserRole(row["role"]), agency=row["agency"]
    )


# --- access --------------------------------------------------------------------------------


class Tx:
    """Queries inside one transaction; the writer owns the transaction around them."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def insert_call(
        self,
        call: NewCall,
        *,
        received_at: datetime,
        actor: str,
        screening: JSONObject | None = None,
    ) -> CallRecord:
        loc = call.location
        row = await self.conn.fetchrow(
            INSERT_CALL,
            call.phone,
            call.channel.value,
            received_at,
            call.answered_at or (received_at if call.received_at is None else None),
            loc.lat if loc else None,
            loc.lon if loc else None,
            loc.accuracy_m if loc else None,
            actor,
            screening,
            call.received_at is not None,
        )
        assert row is not None
        return _call(row)

    async def close_call(
        self, call_id: int, outcome: str, at: datetime, note: str | None
    ) -> CallRecord:
        row = await self.conn.fetchrow(CLOSE_CALL, call_id, outcome, at, note)
        assert row is not None
        return _call(row)

    async def unlink_call(self, call_id: int) -> CallRecord:
        row = await self.conn.fetchrow(UNLINK_CALL, call_id)
        assert row is not None
        return _call(row)

    async def move_calls(self, from_incident: int, to_incident: int) -> None:
        await self.conn.execute(MOVE_CALLS, from_incident, to_incident)

    async def set_merged_into(self, incident_id: int, into: int) -> None:
        await self.conn.execute(SET_MERGED_INTO, incident_id, into)

    async def insert_number_action(
        self, phone: str, action: str, reason: str, actor: str, at: datetime
    ) -> None:
        await self.conn.execute(INSERT_NUMBER_ACTION, phone, action, reason, actor, at)

    async def insert_callback(
        self, call_id: int, at: datetime, result: str, note: str | None, actor: str
    ) -> None:
        await self.conn.execute(INSERT_CALLBACK, call_id, at, result, note, actor)

    async def get_call(self, call_id: int) -> CallRecord | None:
        row = await self.conn.fetchrow(SELECT_CALL, call_id)
        return _call(row) if row else None

    async def link_call(self, call_id: int, incident_id: int, outcome: str, at: datetime) -> None:
        await self.conn.execute(LINK_CALL, call_id, incident_id, outcome, at)

    async def find_incident_by_ref(self, client_ref: str) -> int | None:
        return cast(int | None, await self.conn.fetchval(SELECT_INCIDENT_BY_REF, client_ref))

    async def open_incident(self, incident: Incident, call: str | int) -> CallRecord | None:
        """Insert an incident with its assignments and its call (a phone, or an open call's id).

        One round trip; None when the client_ref is already taken or the call is not open.
        """
        i, loc = incident, incident.location
        row = await self.conn.fetchrow(
            OPEN_INCIDENT_NEW_CALL if isinstance(call, str) else OPEN_INCIDENT_FOR_CALL,
            i.client_ref,
            i.category,
            i.priority,
            loc.lat,
            loc.lon,
            loc.accuracy_m,
            i.zone,
            i.zone_name,
            i.kecamatan,
            i.out_of_area,
            i.handover,
            i.description,
            i.status.value,
            i.rule_id,
            i.ruleset_version,
            list(i.units),
            i.created_at,
            i.created_by,
            [a.agency for a in i.assignments],
            [a.role.value for a in i.assignments],
            call,
        )
        return _call(row) if row else None

    async def save_assignment(self, incident_id: int, a: Assignment) -> None:
        await self.conn.execute(
            SAVE_ASSIGNMENT,
            incident_id,
            a.agency,
            a.role.value,
            a.status.value,
            a.rule_id,
            a.dispatched_at,
            a.acknowledged_at,
            a.en_route_at,
            a.on_scene_at,
            a.resolved_at,
            a.declined_at,
            a.cancelled_at,
            a.note,
            a.escalation_level,
        )

    async def update_incident_status(
        self,
        incident_id: int,
        status: IncidentStatus,
        close_reason: CloseReason | None,
        closed_at: datetime | None,
    ) -> None:
        await self.conn.execute(
            UPDATE_INCIDENT_STATUS,
            incident_id,
            status.value,
            close_reason.value if close_reason else None,
            closed_at,
        )

    async def get_incident(self, incident_id: int, *, lock: bool = False) -> Incident | None:
        """``lock`` takes the row lock first, for a read-modify-write of this incident."""
        if lock and await self.conn.fetchval(SELECT_INCIDENT_FOR_UPDATE, incident_id) is None:
            return None
        row = await self.conn.fetchrow(SELECT_INCIDENT, incident_id)
        return _incident(row) if row else None

    async def append_events(self, events: Sequence[NewEvent]) -> list[int]:
        """Insert events in order with one statement; returns their seqs in the same order."""
        if not events:
            return []
        rows = await self.conn.fetch(
            INSERT_EVENTS,
            [e.type for e in events],
            [e.actor for e in events],
            [e.at for e in events],
            [e.incident_id for e in events],
            [e.call_id for e in events],
            # Agency codes have no commas; a flat text[] keeps this one statement.
            [",".join(e.agencies) for e in events],
            [e.data for e in events],
            [e.via for e in events],
        )
        return [r["seq"] for r in rows]


class Store:
    """Pool-level reads and the transaction factory for the writer."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield Tx(conn)

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1", timeout=2)

    async def ensure_user(
        self, username: str, password_hash: str, role: UserRole, agency: str | None
    ) -> None:
        await self.pool.execute(UPSERT_USER, username, password_hash, role.value, agency)

    async def get_login(self, username: str) -> tuple[User, str] | None:
        row = await self.pool.fetchrow(SELECT_LOGIN, username)
        return (_user(row), row["password_hash"]) if row else None

    async def update_password_hash(self, user_id: int, password_hash: str) -> None:
        await self.pool.execute(UPDATE_PASSWORD_HASH, user_id, password_hash)

    async def insert_token(
        self, token_hash: bytes, user_id: int, now: datetime, expires_at: datetime
    ) -> None:
        await self.pool.execute(INSERT_TOKEN, token_hash, user_id, now, expires_at)

    async def get_token_user(
        self, token_hash: bytes, now: datetime
    ) -> tuple[User, datetime] | None:
        """The token's user and its expiry, if it is known and not expired."""
        row = await self.pool.fetchrow(SELECT_TOKEN_USER, token_hash, now)
        return (_user(row), row["expires_at"]) if row else None

    async def get_incident(self, incident_id: int) -> Incident | None:
        row = await self.pool.fetchrow(SELECT_INCIDENT, incident_id)
        return _incident(row) if row else None

    async def list_open_incidents(self, agency: str | None) -> list[Incident]:
        return [_incident(r) for r in await self.pool.fetch(LIST_OPEN_INCIDENTS, agency)]

    async def list_events_after(self, after: int, agency: str | None, limit: int) -> list[Event]:
        return [_event(r) for r in await self.pool.fetch(LIST_EVENTS_AFTER, after, agency, limit)]

    async def list_events_between(self, after: int, before: int | None) -> list[Event]:
        """Every committed event after ``after`` (and before ``before``), for every audience."""
        return [_event(r) for r in await self.pool.fetch(LIST_EVENTS_BETWEEN, after, before)]

    async def list_incident_events(self, incident_id: int) -> list[Event]:
        return [_event(r) for r in await self.pool.fetch(LIST_INCIDENT_EVENTS, incident_id)]

    async def last_seq(self) -> int:
        return int(await self.pool.fetchval(SELECT_LAST_SEQ))

    async def get_call(self, call_id: int) -> CallRecord | None:
        row = await self.pool.fetchrow(SELECT_CALL, call_id)
        return _call(row) if row else None

    async def caller_history(
        self, phone: str, since: datetime, exclude_call: int = 0
    ) -> list[CallerCall]:
        """The number's earlier calls since ``since``, newest first."""
        rows = await self.pool.fetch(CALLER_HISTORY, phone, since, exclude_call)
        return [
            CallerCall(
                id=r["id"],
                received_at=r["received_at"],
                outcome=r["outcome"],
                incident_id=r["incident_id"],
                has_location=r["has_location"],
                duration_s=float(r["duration_s"]) if r["duration_s"] is not None else None,
            )
            for r in rows
        ]

    async def number_state(self, phone: str) -> NumberState:
        row = await self.pool.fetchrow(NUMBER_STATE, phone)
        assert row is not None
        latest = row["latest"]
        return NumberState(
            latest_action=latest["action"] if latest else None,
            latest_reason=latest["reason"] if latest else None,
            latest_actor=latest["actor"] if latest else None,
            latest_at=_ts(latest["at"]) if latest else None,
            unblocked_at=row["unblocked_at"],
        )

    async def list_pending_calls(self, since: datetime) -> list[CallRecord]:
        return [_call(r) for r in await self.pool.fetch(LIST_PENDING_CALLS, since)]

    async def list_callbacks(self, since: datetime) -> list[JSONObject]:
        return [
            {
                "call_id": r["id"],
                "phone": r["phone"],
                "received_at": r["received_at"].isoformat(),
                "attempts": r["attempts"],
            }
            for r in await self.pool.fetch(LIST_CALLBACKS, since)
        ]

    async def list_open_for_index(self) -> list[OpenIncident]:
        return [
            OpenIncident(
                r["id"], r["category"], r["lat"], r["lon"], r["created_at"], frozenset(r["phones"])
            )
            for r in await self.pool.fetch(LIST_OPEN_FOR_INDEX)
        ]

    async def answer_times(self, start: datetime, end: datetime) -> list[float]:
        return [r["s"] for r in await self.pool.fetch(ANSWER_TIMES, start, end)]

    async def processing_times(self, start: datetime, end: datetime) -> list[tuple[str, float]]:
        rows = await self.pool.fetch(PROCESSING_TIMES, start, end)
        return [(r["category"], r["s"]) for r in rows if r["s"] is not None]

    async def dispatch_times(self, start: datetime, end: datetime) -> list[Record]:
        return list(await self.pool.fetch(DISPATCH_TIMES, start, end))

    async def list_audit(
        self,
        incident_id: int | None,
        actor: str | None,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[Event]:
        rows = await self.pool.fetch(LIST_AUDIT, incident_id, actor, start, end, limit)
        return [_event(r) for r in rows]

    async def call_outcomes(
        self, start: datetime, end: datetime
    ) -> list[tuple[datetime, str | None]]:
        rows = await self.pool.fetch(CALL_OUTCOMES, start, end)
        return [(r["received_at"], r["outcome"]) for r in rows]


@dataclass(frozen=True, slots=True)
class CallerCall:
    """One earlier call of a number, as screening and the call-taker's history need it."""

    id: int
    received_at: datetime
    outcome: str | None
    incident_id: int | None
    has_location: bool
    duration_s: float | None


@dataclass(frozen=True, slots=True)
class NumberState:
    """A supervisor's latest block/unblock decision on a number, if any."""

    latest_action: str | None
    latest_reason: str | None
    latest_actor: str | None
    latest_at: datetime | None
    unblocked_at: datetime | None


def event_from(new: NewEvent, seq: int) -> Event:
    """The committed form of an event, once the store has given it its seq."""
    return Event(
        seq=seq,
        type=new.type,
        actor=new.actor,
        at=new.at,
        incident_id=new.incident_id,
        call_id=new.call_id,
        agencies=new.agencies,
        data=new.data,
        via=new.via,
    )
