"""Use cases: log in, receive a call, open and route an incident, change an assignment's status.

Each composes the pure core (routing, incidents) with the store and the hub. All changes go
through the one ``Writer``, which commits them in small batches and publishes each batch's events
after its commit, so that publication order is commit order is ``seq`` order. No SQL here.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeAlias, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dispatch import routing
from dispatch.hub import Hub
from dispatch.incidents import Assignment as AssignmentRecord
from dispatch.incidents import (
    AssignmentRole,
    AssignmentStatus,
    CallRecord,
    Channel,
    CloseReason,
    DomainError,
    Forbidden,
    Incident,
    IncidentStatus,
    Intake,
    InvalidTransition,
    Location,
    NewCall,
    NewEvent,
    NotFound,
    StatusChange,
    Unauthorized,
    User,
    UserRole,
    all_resolved,
    can_see,
    dump_incident,
    incident_status,
    stamp,
    transition,
)
from dispatch.metrics import Metrics
from dispatch.settings import Settings
from dispatch.store import UNAVAILABLE_ERRORS, Store, Tx, event_from

log = logging.getLogger(__name__)

T = TypeVar("T")
Work: TypeAlias = Callable[[Tx], Awaitable[tuple[T, list[NewEvent]]]]


class Unavailable(DomainError):
    """The database cannot be reached; nothing was accepted, the client may retry."""

    code = "unavailable"


# --- the writer: group commit, publish after commit ----------------------------------------


@dataclass(eq=False, slots=True)
class _Job(Generic[T]):
    work: Work[T]
    future: asyncio.Future[tuple[T, list[int]]]
    received: float


class Writer:
    """One task commits every change; under load several share a transaction (group commit).

    A batch whose jobs all succeed costs one commit (one WAL flush). If any job fails, the batch
    is rolled back and each job runs again alone, so one bad request never spoils another.
    """

    def __init__(self, store: Store, hub: Hub, metrics: Metrics, *, max_batch: int) -> None:
        self.store = store
        self.hub = hub
        self.metrics = metrics
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Job[object]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dispatch-writer")

    async def stop(self) -> None:
        """Finish what was submitted, then stop (SIGTERM drains; nothing accepted is dropped)."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def submit(self, work: Work[T]) -> tuple[T, list[int]]:
        """Run ``work`` in a committed transaction; returns its result and its events' seqs."""
        if self._task is None:
            raise Unavailable("the centre is shutting down")
        loop = asyncio.get_running_loop()
        job: _Job[T] = _Job(work, loop.create_future(), time.perf_counter())
        self._queue.put_nowait(job)  # type: ignore[arg-type]
        return await job.future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            except Exception as exc:  # the batch as a whole failed: try each job alone
                if len(batch) == 1:
                    self._fail(batch[0], exc)
                else:
                    for job in batch:
                        try:
                            await self._commit([job])
                        except Exception as one_exc:
                            self._fail(job, one_exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[_Job[object]]) -> None:
        results: list[tuple[object, list[NewEvent]]] = []
        async with self.store.transaction() as tx:
            for job in batch:
                results.append(await job.work(tx))
            all_events = [e for _, events in results for e in events]
            seqs = await tx.append_events(all_events)
        committed = time.perf_counter()
        self.metrics.batch_size.observe(len(batch))
        self.hub.publish(
            [event_from(e, s) for e, s in zip(all_events, seqs, strict=True)], committed
        )
        offset = 0
        for job, (result, events) in zip(batch, results, strict=True):
            self.metrics.intake_to_commit.observe(committed - job.received)
            if not job.future.done():
                job.future.set_result((result, seqs[offset : offset + len(events)]))
            offset += len(events)

    def _fail(self, job: _Job[object], exc: Exception) -> None:
        if isinstance(exc, UNAVAILABLE_ERRORS):
            self.metrics.db_unavailable.inc()
            exc = Unavailable("the database is unavailable; nothing was saved, please retry")
        elif not isinstance(exc, DomainError):
            log.error("change failed", exc_info=exc)
        if not job.future.done():
            job.future.set_exception(exc)


# --- context -------------------------------------------------------------------------------


@dataclass(slots=True)
class Ctx:
    settings: Settings
    store: Store
    writer: Writer
    hub: Hub
    metrics: Metrics
    rules: routing.RoutingTable
    clock: Callable[[], datetime]
    hasher: PasswordHasher = field(default_factory=PasswordHasher)


# --- accounts ------------------------------------------------------------------------------

# Verified when the username is unknown, so that a wrong name and a wrong password take equally
# long and the answer does not tell which accounts exist.
_DUMMY_HASH = PasswordHasher().hash("not-a-password")


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def login(ctx: Ctx, username: str, password: str) -> tuple[str, User]:
    found = await ctx.store.get_login(username)
    stored = found[1] if found else _DUMMY_HASH
    try:
        # argon2 is deliberately slow (tens of ms): keep it off the event loop.
        await asyncio.to_thread(ctx.hasher.verify, stored, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("wrong username or password") from None
    if found is None:
        raise Unauthorized("wrong username or password")
    user, stored = found
    if ctx.hasher.check_needs_rehash(stored):
        await ctx.store.update_password_hash(user.id, ctx.hasher.hash(password))
    token = secrets.token_urlsafe(32)
    now = ctx.clock()
    await ctx.store.insert_token(token_hash(token), user.id, now, now + ctx.settings.token_ttl)
    return token, user


async def authenticate(ctx: Ctx, token: str | None) -> User:
    if not token:
        raise Unauthorized("send Authorization: Bearer <token> (POST /api/v1/login)")
    user = await ctx.store.get_token_user(token_hash(token), ctx.clock())
    if user is None:
        raise Unauthorized("token unknown or expired; log in again")
    return user


async def ensure_demo_accounts(ctx: Ctx) -> None:
    """Create, if missing, the demo accounts of DESIGN §5 with DISPATCH_DEMO_PASSWORD."""
    password = await asyncio.to_thread(ctx.hasher.hash, ctx.settings.demo_password)
    accounts: list[tuple[str, UserRole, str | None]] = [
        ("operator1", UserRole.CALLTAKER, None),
        ("supervisor1", UserRole.SUPERVISOR, None),
        ("admin", UserRole.ADMIN, None),
    ]
    accounts += [(code.lower(), UserRole.AGENCY, code) for code in ctx.rules.agencies]
    for username, role, agency in accounts:
        await ctx.store.ensure_user(username, password, role, agency)


def require_role(user: User, *roles: UserRole) -> None:
    if user.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"this needs one of the roles: {allowed}")


# --- calls and incidents -------------------------------------------------------------------


async def receive_call(ctx: Ctx, call: NewCall, user: User) -> CallRecord:
    """Record an arriving call; durable before it is answered."""
    require_role(user, UserRole.CALLTAKER, UserRole.SUPERVISOR, UserRole.ADMIN)
    now = ctx.clock()

    async def work(tx: Tx) -> tuple[CallRecord, list[NewEvent]]:
        record = await tx.insert_call(
            call, received_at=call.received_at or now, actor=user.username
        )
        event = NewEvent(
            "call.received",
            user.username,
            now,
            call_id=record.id,
            data={"phone": record.phone, "channel": record.channel.value},
        )
        return record, [event]

    record, _ = await ctx.writer.submit(work)
    ctx.metrics.intake.labels(category="", outcome="received").inc()
    return record


@dataclass(frozen=True, slots=True)
class Submitted:
    incident: Incident
    created: bool
    seq: int | None


async def submit_incident(ctx: Ctx, intake: Intake, user: User) -> Submitted:
    """Open, route and dispatch in one commit; a repeated ``client_ref`` returns the first."""
    require_role(user, UserRole.CALLTAKER, UserRole.SUPERVISOR, UserRole.ADMIN)
    now = ctx.clock()
    rules = ctx.rules
    loc = intake.location
    route = rules.route(loc.lat, loc.lon, intake.category, now=now, priority=intake.priority)
    priority = intake.priority or rules.categories[intake.category].priority
    assignments = tuple(
        AssignmentRecord(
            agency=choice.agency,
            role=AssignmentRole(choice.role.value),
            status=AssignmentStatus.DISPATCHED,
            rule_id=route.rule_id,
            dispatched_at=now,
        )
        for choice in route.agencies
    )
    draft = Incident(
        id=0,
        category=intake.category,
        priority=priority,
        location=loc,
        zone=route.zone,
        zone_name=route.zone_name,
        kecamatan=route.kecamatan,
        out_of_area=route.out_of_area,
        handover=route.handover,
        description=intake.description,
        status=IncidentStatus.DISPATCHED,
        close_reason=None,
        rule_id=route.rule_id,
        ruleset_version=route.ruleset_version,
        units=tuple(routing.dump_unit(u) for u in route.units),
        created_at=now,
        created_by=user.username,
        client_ref=intake.client_ref,
        assignments=assignments,
    )

    async def work(tx: Tx) -> tuple[tuple[Incident, bool], list[NewEvent]]:
        if intake.client_ref is not None:
            existing = await tx.find_incident_by_ref(intake.client_ref)
            if existing is not None:
                found = await tx.get_incident(existing)
                assert found is not None
                return (found, False), []
        if intake.call_id is not None:
            call = await tx.get_call(intake.call_id)
            if call is None:
                raise NotFound(f"call {intake.call_id} not found")
            if call.outcome is not None:
                raise InvalidTransition(f"call {call.id} is already closed as {call.outcome}")
        else:
            assert intake.phone is not None
            call = await tx.insert_call(
                NewCall(intake.phone, Channel.VOICE, None, loc),
                received_at=now,
                actor=user.username,
            )
        incident_id = await tx.insert_incident(draft)
        await tx.insert_assignments(incident_id, assignments)
        await tx.link_call(call.id, incident_id, "incident", now)
        incident = replace(
            draft,
            id=incident_id,
            calls=(replace(call, incident_id=incident_id, outcome="incident"),),
        )
        event = NewEvent(
            "incident.opened",
            user.username,
            now,
            incident_id=incident_id,
            call_id=call.id,
            agencies=incident.agencies,
            data={"incident": dump_incident(incident)},
        )
        return (incident, True), [event]

    (incident, created), seqs = await ctx.writer.submit(work)
    if created:
        ctx.metrics.intake.labels(category=incident.category, outcome="incident").inc()
    return Submitted(incident, created, seqs[0] if seqs else None)


async def get_incident(ctx: Ctx, incident_id: int, user: User) -> Incident:
    incident = await ctx.store.get_incident(incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    if not can_see(user, incident.agencies):
        raise Forbidden(f"incident {incident_id} is not assigned to {user.agency}")
    return incident


async def change_status(
    ctx: Ctx, incident_id: int, change: StatusChange, user: User, agency: str | None
) -> Incident:
    """An agency moves its own assignment; a supervisor may act for a named agency."""
    if user.role is UserRole.AGENCY:
        agency = user.agency
    else:
        require_role(user, UserRole.SUPERVISOR, UserRole.ADMIN)
    now = ctx.clock()

    async def work(tx: Tx) -> tuple[Incident, list[NewEvent]]:
        incident = await tx.get_incident(incident_id, lock=True)
        if incident is None:
            raise NotFound(f"incident {incident_id} not found")
        mine = next((a for a in incident.assignments if a.agency == agency), None)
        if mine is None:
            if user.role is UserRole.AGENCY:
                raise Forbidden(f"incident {incident_id} is not assigned to {agency}")
            raise NotFound(f"incident {incident_id} has no assignment for agency {agency}")
        if incident.status is IncidentStatus.CLOSED:
            raise InvalidTransition(f"incident {incident_id} is closed")
        event_type = transition(mine.status, change.status)
        updated = stamp(mine, change.status, now, change.note)
        await tx.update_assignment(incident_id, updated)
        assignments = tuple(updated if a.agency == agency else a for a in incident.assignments)
        status, reason, closed_at = incident_status(assignments), None, None
        if all_resolved(assignments):
            status, reason, closed_at = IncidentStatus.CLOSED, CloseReason.RESOLVED, now
        if status is not incident.status:
            await tx.update_incident_status(incident_id, status, reason, closed_at)
        after = replace(
            incident,
            assignments=assignments,
            status=status,
            close_reason=reason,
            closed_at=closed_at,
        )
        snapshot = dump_incident(after)
        events = [
            NewEvent(
                event_type,
                user.username,
                now,
                incident_id=incident_id,
                agencies=after.agencies,
                data={
                    "agency": mine.agency,
                    "from_state": mine.status.value,
                    "to_state": updated.status.value,
                    "note": change.note,
                    "incident": snapshot,
                },
            )
        ]
        if reason is not None:
            events.append(
                NewEvent(
                    "incident.closed",
                    user.username,
                    now,
                    incident_id=incident_id,
                    agencies=after.agencies,
                    data={"reason": reason.value, "incident": snapshot},
                )
            )
        return after, events

    incident, _ = await ctx.writer.submit(work)
    return incident


def explain_route(ctx: Ctx, location: Location, category: str) -> routing.Route:
    return ctx.rules.route(location.lat, location.lon, category, now=ctx.clock())


def load_rules(directory: Path) -> routing.RoutingTable:
    """Load and validate a rule set; raises routing.RulesError listing every problem."""
    return routing.RoutingTable.load(directory)
