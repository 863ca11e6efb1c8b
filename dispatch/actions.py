"""Use cases: log in, screen and close calls, open, route, link, merge and move incidents.

Each composes the pure core (routing, screening, incidents) with the store and the hub. All
changes go through the one ``Writer``, which commits them in small batches and publishes each
batch's events after its commit, so that publication order is commit order is ``seq`` order.
No SQL here.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Generic, TypeAlias, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dispatch import kpis, routing, screening
from dispatch.deadlines import ESCALATED, DeadlinePolicy, DeadlinesError
from dispatch.hub import Hub
from dispatch.incidents import (
    JSON,
    TERMINAL,
    AssignmentRole,
    AssignmentStatus,
    BadInput,
    CallRecord,
    CloseReason,
    DomainError,
    Event,
    Forbidden,
    Incident,
    IncidentStatus,
    Intake,
    InvalidTransition,
    JSONObject,
    Location,
    NewCall,
    NewEvent,
    NotFound,
    StatusChange,
    Unauthorized,
    User,
    UserRole,
    can_see,
    close,
    dump_call,
    dump_incident,
    incident_event,
    require_open,
    settle,
    stamp,
    transition,
    user_event,
)
from dispatch.incidents import Assignment as AssignmentRecord
from dispatch.metrics import Metrics
from dispatch.settings import Settings
from dispatch.store import UNAVAILABLE_ERRORS, CallerCall, NumberState, Store, Tx, event_from

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


# Background jobs (escalations) given room in each batch even when calls fill it.
BACKGROUND_SHARE = 8


class Writer:
    """One task commits every change; under load several share a transaction (group commit).

    A batch whose jobs all succeed costs one commit (one WAL flush). If any job fails, the batch
    is rolled back and each job runs again alone, so one bad request never spoils another.

    When the database goes away during a COMMIT, the commit may have happened without our
    hearing of it; those events are found in the log and published before anything newer, so
    that live screens see every committed event once and in order.
    """

    def __init__(
        self,
        store: Store,
        listeners: Sequence[Callable[[list[Event], float], None]],
        metrics: Metrics,
        *,
        max_batch: int,
    ) -> None:
        self.store = store
        # Told of every committed batch, in commit order: the hub, the duplicate index.
        self.listeners = listeners
        self.metrics = metrics
        self.max_batch = max_batch
        self._urgent: deque[_Job[object]] = deque()
        self._background: deque[_Job[object]] = deque()
        self._wakeup = asyncio.Event()  # set when work is submitted
        self._idle = asyncio.Event()  # set when both queues are empty
        self._busy = False  # a batch is being committed
        self._task: asyncio.Task[None] | None = None
        # The last seq told to the listeners; every committed event up to it has been told.
        self.published = 0
        # A commit failed with the database unreachable: its outcome is unknown until we look.
        self._unsure = False

    async def start(self) -> None:
        self.published = await self.store.last_seq()
        self._task = asyncio.create_task(self._run(), name="dispatch-writer")

    async def stop(self) -> None:
        """Finish what was submitted, then stop (SIGTERM drains; nothing accepted is dropped)."""
        if self._task is None:
            return
        while self._urgent or self._background or self._busy:
            self._idle.clear()
            await self._idle.wait()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def submit(self, work: Work[T], *, background: bool = False) -> tuple[T, list[int]]:
        """Run ``work`` in a committed transaction; returns its result and its events' seqs.

        ``background`` work (deadline escalations) yields to calls and agencies' changes.
        """
        if self._task is None:
            raise Unavailable("the centre is shutting down")
        loop = asyncio.get_running_loop()
        job: _Job[T] = _Job(work, loop.create_future(), time.perf_counter())
        (self._background if background else self._urgent).append(job)  # type: ignore[arg-type]
        self._wakeup.set()
        return await job.future

    def _take_batch(self) -> list[_Job[object]]:
        batch = [self._urgent.popleft() for _ in range(min(self.max_batch, len(self._urgent)))]
        # Background work rides along in a bounded share, so that an escalation storm (many
        # dispatches overdue at once, as in a flood) neither delays intake nor starves.
        room = max(BACKGROUND_SHARE, self.max_batch - len(batch))
        batch += [self._background.popleft() for _ in range(min(room, len(self._background)))]
        return batch

    async def _run(self) -> None:
        while True:
            if not self._urgent and not self._background:
                self._idle.set()
                self._wakeup.clear()
                if not self._unsure:
                    await self._wakeup.wait()
                    continue
                try:
                    # Idle after an outage: look for unheard commits once a second.
                    await asyncio.wait_for(self._wakeup.wait(), 1.0)
                except TimeoutError:
                    await self._catch_up(None)
                continue
            batch = self._take_batch()
            self._busy = True
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
                self._busy = False

    async def _commit(self, batch: list[_Job[object]]) -> None:
        results: list[tuple[object, list[NewEvent]]] = []
        async with self.store.transaction() as tx:
            for job in batch:
                results.append(await job.work(tx))
            all_events = [e for _, events in results for e in events]
            seqs = await tx.append_events(all_events)
        committed = time.perf_counter()
        self.metrics.batch_size.observe(len(batch))
        if seqs and seqs[0] > self.published + 1:
            await self._catch_up(seqs[0])
        committed_events = [event_from(e, s) for e, s in zip(all_events, seqs, strict=True)]
        self._tell(committed_events, committed)
        offset = 0
        for job, (result, events) in zip(batch, results, strict=True):
            self.metrics.intake_to_commit.observe(committed - job.received)
            if not job.future.done():
                job.future.set_result((result, seqs[offset : offset + len(events)]))
            offset += len(events)

    def _tell(self, events: list[Event], committed: float) -> None:
        if not events:
            return
        for listener in self.listeners:
            listener(events, committed)
        self.published = events[-1].seq

    async def _catch_up(self, before: int | None) -> None:
        """Publish committed events between the last published seq and ``before``.

        Seqs of rolled-back transactions are simply absent. Never raises: it runs after a
        commit, whose jobs must not be retried because of it.
        """
        try:
            missed = await self.store.list_events_between(self.published, before)
        except Exception:
            log.warning("could not look for unpublished events yet; will retry")
            self._unsure = True
            return
        self._unsure = False
        if missed:
            log.warning("publishing %d events whose commit was not confirmed", len(missed))
            self._tell(missed, time.perf_counter())

    def _fail(self, job: _Job[object], exc: Exception) -> None:
        if isinstance(exc, UNAVAILABLE_ERRORS):
            self._unsure = True
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
    open_incidents: OpenIncidents
    deadlines: DeadlineWatch
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    # token hash -> (user, trusted until); see authenticate()
    token_cache: dict[bytes, tuple[User, datetime]] = field(default_factory=dict)
    # (rule-set version, its duplicate settings): rebuilt only when the rules are reloaded.
    _duplicates: tuple[str, DuplicateSettings] | None = None

    @property
    def duplicates(self) -> DuplicateSettings:
        if self._duplicates is None or self._duplicates[0] != self.rules.version:
            self._duplicates = (self.rules.version, duplicate_settings(self.rules))
        return self._duplicates[1]


DuplicateSettings: TypeAlias = (
    "tuple[dict[str, screening.DuplicateWindow], dict[str, frozenset[str]]]"
)


def duplicate_settings(rules: routing.RoutingTable) -> DuplicateSettings:
    """Each category's duplicate radius, time window and related categories, from the rules."""
    windows = {
        c.code: screening.DuplicateWindow(c.duplicate_radius_m, c.duplicate_window_s)
        for c in rules.categories.values()
    }
    return windows, {c.code: c.compatible_with for c in rules.categories.values()}


class OpenIncidents:
    """The in-memory duplicate index of open incidents, kept in step with committed events.

    Every incident event carries the incident's snapshot, so applying the events after each
    commit is all it takes; it is rebuilt from the database at start-up.
    """

    def __init__(self) -> None:
        self.index = screening.IncidentIndex()

    def apply(self, events: Sequence[Event], _committed_at: float) -> None:
        for event in events:
            snapshot = event.data.get("incident")
            if isinstance(snapshot, dict):
                self._update(snapshot)

    def _update(self, snapshot: JSONObject) -> None:
        incident_id, status = snapshot.get("id"), snapshot.get("status")
        location, calls = snapshot.get("location"), snapshot.get("calls")
        category, created = snapshot.get("category"), snapshot.get("created_at")
        if not isinstance(incident_id, int):
            return
        if status == "closed":
            self.index.discard(incident_id)
            return
        if not (
            isinstance(location, dict)
            and isinstance(calls, list)
            and isinstance(category, str)
            and isinstance(created, str)
        ):
            return
        lat, lon = location.get("lat"), location.get("lon")
        if not isinstance(lat, float | int) or not isinstance(lon, float | int):
            return
        phones = frozenset(
            str(c["phone"])
            for c in calls
            if isinstance(c, dict) and isinstance(c.get("phone"), str)
        )
        opened = datetime.fromisoformat(created)
        self.index.add(
            screening.OpenIncident(incident_id, category, float(lat), float(lon), opened, phones)
        )

    def load(self, incidents: Sequence[screening.OpenIncident]) -> None:
        for incident in incidents:
            self.index.add(incident)


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


# A verified token is trusted for this long without asking the database again: it takes a
# round trip off every request, and tokens are only ever ended by expiry, which is honoured.
TOKEN_CACHE_S = 30
TOKEN_CACHE_MAX = 10_000


async def authenticate(ctx: Ctx, token: str | None) -> User:
    if not token:
        raise Unauthorized("send Authorization: Bearer <token> (POST /api/v1/login)")
    key, now = token_hash(token), ctx.clock()
    cached = ctx.token_cache.get(key)
    if cached is not None and now < cached[1]:
        return cached[0]
    found = await ctx.store.get_token_user(key, now)
    if found is None:
        raise Unauthorized("token unknown or expired; log in again")
    user, expires_at = found
    if len(ctx.token_cache) >= TOKEN_CACHE_MAX:
        ctx.token_cache.clear()
    ctx.token_cache[key] = (user, min(expires_at, now + timedelta(seconds=TOKEN_CACHE_S)))
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


# Who works calls: call-takers, and supervisors and admins standing in for them.
CENTRE_STAFF = (UserRole.CALLTAKER, UserRole.SUPERVISOR, UserRole.ADMIN)


def require_role(user: User, *roles: UserRole) -> None:
    if user.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"this needs one of the roles: {allowed}")


# --- calls and incidents -------------------------------------------------------------------


async def receive_call(ctx: Ctx, call: NewCall, user: User) -> tuple[CallRecord, CallerView]:
    """Record an arriving call with its screening verdict; durable before it is answered.

    A blocked number's call is recorded and shown like any other: screening informs, it never
    holds back a caller who may have a real emergency.
    """
    require_role(user, *CENTRE_STAFF)
    now = ctx.clock()
    view = await view_caller(ctx, call.phone, call.received_at or now)
    verdict = dump_screening(view.screening)

    async def work(tx: Tx) -> tuple[CallRecord, list[NewEvent]]:
        record = await tx.insert_call(
            call, received_at=call.received_at or now, actor=user.username, screening=verdict
        )
        data: JSONObject = {"call": dump_call(record), "history": dump_history(view.history)}
        return record, [user_event("call.received", user, now, data, call_id=record.id)]

    record, _ = await ctx.writer.submit(work)
    ctx.metrics.intake.labels(category="", outcome="received").inc()
    return record, view


def nearby(
    ctx: Ctx,
    location: Location,
    category: str,
    phone: str | None,
    user: User,
) -> list[tuple[screening.Candidate, str | None]]:
    """Open incidents this call may be about, best first, with their categories."""
    require_centre(user)
    windows, compatible = ctx.duplicates
    index = ctx.open_incidents.index
    found = screening.find_duplicates(
        index,
        lat=location.lat,
        lon=location.lon,
        accuracy_m=location.accuracy_m,
        category=category,
        phone=phone,
        now=ctx.clock(),
        windows=windows,
        compatible=compatible,
    )
    return [(c, getattr(index.get(c.incident_id), "category", None)) for c in found]


@dataclass(frozen=True, slots=True)
class Submitted:
    incident: Incident
    created: bool
    seq: int | None
    # The incident as JSON, the very snapshot its event carries: built once per intake.
    view: JSONObject


async def submit_incident(ctx: Ctx, intake: Intake, user: User) -> Submitted:
    """Open, route and dispatch in one commit; a repeated ``client_ref`` returns the first."""
    require_role(user, *CENTRE_STAFF)
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

    async def work(tx: Tx) -> tuple[tuple[Incident, JSONObject | None], list[NewEvent]]:
        call = await tx.open_incident(draft, intake.phone or intake.call_id or 0)
        if call is None:
            # Rare paths, read only now: a retry of a committed submit, or a bad call id.
            existing = await tx.find_incident_by_ref(intake.client_ref or "")
            if existing is not None:
                found = await tx.get_incident(existing)
                assert found is not None
                return (found, None), []
            bad = await _call(tx, intake.call_id or 0)
            raise InvalidTransition(f"call {bad.id} is already closed as {bad.outcome}")
        assert call.incident_id is not None
        incident = replace(draft, id=call.incident_id, calls=(call,))
        event = incident_event("incident.opened", user, now, incident, call_id=call.id)
        view = event.data["incident"]
        assert isinstance(view, dict)
        return (incident, view), [event]

    (incident, view), seqs = await ctx.writer.submit(work)
    if view is None:  # a retry: the first submit's incident, as it is now
        return Submitted(incident, False, None, dump_incident(incident))
    ctx.metrics.intake.labels(category=incident.category, outcome="incident").inc()
    return Submitted(incident, True, seqs[0], view)


async def get_incident(ctx: Ctx, incident_id: int, user: User) -> tuple[Incident, list[Event]]:
    """One incident and its timeline, for the centre or an agency assigned to it."""
    incident = await ctx.store.get_incident(incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    if not can_see(user, incident.agencies):
        raise Forbidden(f"incident {incident_id} is not assigned to {user.agency}")
    return incident, await ctx.store.list_incident_events(incident_id)


async def list_open(ctx: Ctx, user: User) -> tuple[list[Incident], int]:
    """Open incidents the user may see (an agency: its live ones) and the seq they reflect.

    The seq is read first: a screen that resumes from it may see a change twice (it upserts),
    but never miss one.
    """
    last_seq = await ctx.store.last_seq()
    agency = None if user.is_centre else user.agency
    return await ctx.store.list_open_incidents(agency), last_seq


def require_centre(user: User) -> None:
    """Calls and callers' numbers are the centre's business, not an agency's."""
    if not user.is_centre:
        raise Forbidden("calls and callers are visible to the centre only")


async def get_call(ctx: Ctx, call_id: int, user: User) -> tuple[CallRecord, CallerView]:
    require_centre(user)
    call = await ctx.store.get_call(call_id)
    if call is None:
        raise NotFound(f"call {call_id} not found")
    return call, await view_caller(ctx, call.phone, ctx.clock(), exclude_call=call.id)


async def pending_calls(ctx: Ctx, user: User) -> list[CallRecord]:
    """Calls still waiting for an outcome: the call-takers' queue."""
    require_centre(user)
    # A call left without an outcome for a day is abandoned in practice; it drops off the queue.
    return await ctx.store.list_pending_calls(ctx.clock() - timedelta(days=1))


async def callbacks(ctx: Ctx, user: User) -> list[JSONObject]:
    """Silent calls still to be called back."""
    require_centre(user)
    # Silent calls of the last 24 h: older ones are past the point where a callback helps.
    return await ctx.store.list_callbacks(ctx.clock() - timedelta(hours=24))


async def caller(ctx: Ctx, phone: str, user: User) -> CallerView:
    require_centre(user)
    return await view_caller(ctx, phone, ctx.clock())


async def _persist(tx: Tx, before: Incident, after: Incident) -> None:
    """Write what changed between two versions of one incident: assignments, then status."""
    old = {a.agency: a for a in before.assignments}
    for a in after.assignments:
        if old.get(a.agency) != a:
            await tx.save_assignment(after.id, a)
    if (before.status, before.close_reason) != (after.status, after.close_reason):
        await tx.update_incident_status(after.id, after.status, after.close_reason, after.closed_at)


def _closing(user: User, now: datetime, before: Incident, after: Incident) -> list[NewEvent]:
    """The ``incident.closed`` event when a change closed the incident."""
    if after.close_reason is None or before.close_reason is not None:
        return []
    data: JSONObject = {"reason": after.close_reason.value}
    return [incident_event("incident.closed", user, now, after, data)]


async def _call(tx: Tx, call_id: int) -> CallRecord:
    call = await tx.get_call(call_id)
    if call is None:
        raise NotFound(f"call {call_id} not found")
    return call


async def _open_call(tx: Tx, call_id: int) -> CallRecord:
    """A call that has no outcome yet: the only kind that can still be closed or linked."""
    call = await _call(tx, call_id)
    if call.outcome is not None:
        raise InvalidTransition(f"call {call_id} is already closed as {call.outcome}")
    return call


async def _locked(tx: Tx, incident_id: int) -> Incident:
    incident = await tx.get_incident(incident_id, lock=True)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return incident


Change: TypeAlias = Callable[[Incident], tuple[Incident, list[NewEvent]]]


async def _change_incident(ctx: Ctx, incident_id: int, change: Change) -> Incident:
    """Lock the incident, let ``change`` decide (no I/O), write what changed, commit."""

    async def work(tx: Tx) -> tuple[Incident, list[NewEvent]]:
        before = await _locked(tx, incident_id)
        after, events = change(before)
        await _persist(tx, before, after)
        return after, events

    incident, _ = await ctx.writer.submit(work)
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

    def decide(incident: Incident) -> tuple[Incident, list[NewEvent]]:
        mine = next((a for a in incident.assignments if a.agency == agency), None)
        if mine is None:
            if user.role is UserRole.AGENCY:
                raise Forbidden(f"incident {incident_id} is not assigned to {agency}")
            raise NotFound(f"incident {incident_id} has no assignment for agency {agency}")
        require_open(incident)
        event_type = transition(mine.status, change.status)
        updated = stamp(mine, change.status, now, change.note)
        assignments = tuple(updated if a is mine else a for a in incident.assignments)
        fallback = None
        if change.status is AssignmentStatus.DECLINED:
            # A decline re-routes: the rule's fallback agency takes the declined role.
            assignments, fallback = _with_fallback(ctx, incident, assignments, mine, now)
        after = settle(incident, assignments, now)
        data: JSONObject = {
            "agency": mine.agency,
            "from_state": mine.status.value,
            "to_state": updated.status.value,
            "note": change.note,
        }
        events = [incident_event(event_type, user, now, after, data)]
        if fallback is not None:
            reason = f"{mine.agency} declined: {change.note}"
            events.append(_created(fallback, after, now, reason))
        return after, [*events, *_closing(user, now, incident, after)]

    return await _change_incident(ctx, incident_id, decide)


def _with_fallback(
    ctx: Ctx,
    incident: Incident,
    assignments: tuple[AssignmentRecord, ...],
    failed: AssignmentRecord,
    now: datetime,
) -> tuple[tuple[AssignmentRecord, ...], AssignmentRecord | None]:
    """Add the rule's fallback agency in the failed agency's role, unless already working.

    The current rule set decides (the incident is routed again at its place and priority),
    so a fallback changed by a rules reload takes effect for open incidents too.
    """
    loc = incident.location
    route = ctx.rules.route(
        loc.lat, loc.lon, incident.category, now=now, priority=incident.priority
    )
    code = route.fallback
    live = {a.agency for a in assignments if a.status not in TERMINAL}
    if code is None or code in live:
        return assignments, None
    added = AssignmentRecord(
        code, failed.role, AssignmentStatus.DISPATCHED, f"fallback:{route.rule_id}", now
    )
    return (*(a for a in assignments if a.agency != code), added), added


def _created(added: AssignmentRecord, incident: Incident, now: datetime, reason: str) -> NewEvent:
    data: JSONObject = {"agency": added.agency, "role": added.role.value, "reason": reason}
    return incident_event("assignment.created", None, now, incident, data)


async def close_incident(
    ctx: Ctx, incident_id: int, reason: CloseReason, note: str | None, user: User
) -> Incident:
    """A supervisor closes an incident with a reason; live assignments are stood down."""
    require_role(user, UserRole.SUPERVISOR, UserRole.ADMIN)
    now = ctx.clock()

    def decide(before: Incident) -> tuple[Incident, list[NewEvent]]:
        after = close(before, reason, now, note)
        data: JSONObject = {"reason": reason.value, "note": note}
        return after, [incident_event("incident.closed", user, now, after, data)]

    return await _change_incident(ctx, incident_id, decide)


async def add_assignment(
    ctx: Ctx, incident_id: int, agency: str, role: AssignmentRole, user: User
) -> Incident:
    """A supervisor adds an agency (override or reinforcement); it is dispatched at once."""
    require_role(user, UserRole.SUPERVISOR, UserRole.ADMIN)
    now = ctx.clock()

    def decide(before: Incident) -> tuple[Incident, list[NewEvent]]:
        require_open(before)
        current = next((a for a in before.assignments if a.agency == agency), None)
        if current is not None and current.status not in TERMINAL:
            raise InvalidTransition(f"{agency} is already working on incident {incident_id}")
        added = AssignmentRecord(
            agency, role, AssignmentStatus.DISPATCHED, f"manual:{user.username}", now
        )
        kept = tuple(a for a in before.assignments if a.agency != agency)
        after = settle(before, (*kept, added), now)
        data: JSONObject = {"agency": agency, "role": role.value}
        return after, [incident_event("assignment.created", user, now, after, data)]

    return await _change_incident(ctx, incident_id, decide)


async def cancel_assignment(
    ctx: Ctx, incident_id: int, agency: str, note: str | None, user: User
) -> Incident:
    """A supervisor stands an agency down (with add_assignment, this replaces an agency)."""
    require_role(user, UserRole.SUPERVISOR, UserRole.ADMIN)
    now = ctx.clock()

    def decide(before: Incident) -> tuple[Incident, list[NewEvent]]:
        require_open(before)
        current = next((a for a in before.assignments if a.agency == agency), None)
        if current is None:
            raise NotFound(f"incident {incident_id} has no assignment for agency {agency}")
        transition(current.status, AssignmentStatus.CANCELLED)
        cancelled = stamp(current, AssignmentStatus.CANCELLED, now, note)
        after = settle(
            before, tuple(cancelled if a is current else a for a in before.assignments), now
        )
        data: JSONObject = {"agency": agency, "from_state": current.status.value, "note": note}
        event = incident_event("assignment.cancelled", user, now, after, data)
        return after, [event, *_closing(user, now, before, after)]

    return await _change_incident(ctx, incident_id, decide)


# --- calls: screening, outcomes, duplicates ------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallerView:
    """What the call-taker sees of a number: the verdict, its record, a supervisor's block."""

    screening: screening.CallerScreening
    history: list[CallerCall]
    state: NumberState


async def view_caller(ctx: Ctx, phone: str, now: datetime, exclude_call: int = 0) -> CallerView:
    policy = ctx.settings.block_policy
    history = await ctx.store.caller_history(phone, now - policy.month_window, exclude_call)
    state = await ctx.store.number_state(phone)
    past = tuple(
        screening.PastCall(
            received_at=c.received_at,
            outcome=screening.Outcome(c.outcome) if c.outcome else None,
            duration_s=c.duration_s,
            has_location=c.has_location,
        )
        for c in history
    )
    verdict = screening.screen_caller(
        screening.CallerHistory(phone, past, state.unblocked_at), now=now, policy=policy
    )
    if state.latest_action == "block":
        # A supervisor's block stands until a supervisor lifts it; the call is still answered.
        reason = f"blocked by {state.latest_actor}: {state.latest_reason}"
        verdict = replace(verdict, blocked=True, reasons=(*verdict.reasons, reason))
    return CallerView(verdict, history, state)


def dump_screening(verdict: screening.CallerScreening) -> JSONObject:
    return {
        "prank_score": verdict.prank_score,
        "blocked": verdict.blocked,
        "blocked_until": verdict.blocked_until.isoformat() if verdict.blocked_until else None,
        "permanent_block_requested": verdict.permanent_block_requested,
        "reasons": list(verdict.reasons),
    }


def dump_history(history: list[CallerCall], limit: int = 10) -> list[JSON]:
    return [
        {
            "id": c.id,
            "received_at": c.received_at.isoformat(),
            "outcome": c.outcome,
            "incident_id": c.incident_id,
        }
        for c in history[:limit]
    ]


async def close_call(
    ctx: Ctx, call_id: int, outcome: str, note: str | None, user: User
) -> CallRecord:
    """Close a call that opens no incident: prank, ghost, info, misdial, abandoned."""
    require_role(user, *CENTRE_STAFF)
    now = ctx.clock()

    async def work(tx: Tx) -> tuple[CallRecord, list[NewEvent]]:
        await _open_call(tx, call_id)
        closed = await tx.close_call(call_id, outcome, now, note)
        event = user_event("call.closed", user, now, {"call": dump_call(closed)}, call_id=call_id)
        return closed, [event]

    closed, _ = await ctx.writer.submit(work)
    ctx.metrics.intake.labels(category="", outcome=outcome).inc()
    return closed


async def record_callback(
    ctx: Ctx, call_id: int, result: str, note: str | None, user: User
) -> None:
    """A call-taker called a silent caller back; the attempt and its result are kept."""
    require_role(user, *CENTRE_STAFF)
    now = ctx.clock()

    async def work(tx: Tx) -> tuple[None, list[NewEvent]]:
        call = await _call(tx, call_id)
        if call.outcome != "ghost":
            raise InvalidTransition(f"call {call_id} is not a silent call (ghost)")
        await tx.insert_callback(call_id, now, result, note, user.username)
        data: JSONObject = {"result": result, "note": note, "phone": call.phone}
        return None, [user_event("call.callback_attempted", user, now, data, call_id=call_id)]

    await ctx.writer.submit(work)


async def attach_call(ctx: Ctx, incident_id: int, call_id: int, user: User) -> Incident:
    """Link an extra caller to an incident: its agencies hear of it; nothing new is dispatched."""
    require_role(user, *CENTRE_STAFF)
    now = ctx.clock()

    async def work(tx: Tx) -> tuple[Incident, list[NewEvent]]:
        incident = await _locked(tx, incident_id)
        require_open(incident)
        call = await _open_call(tx, call_id)
        await tx.link_call(call_id, incident_id, "duplicate", now)
        linked = replace(call, incident_id=incident_id, outcome="duplicate", outcome_at=now)
        after = replace(incident, calls=(*incident.calls, linked))
        data: JSONObject = {"call": dump_call(linked)}
        event = incident_event("call.linked", user, now, after, data, call_id=call_id)
        return after, [event]

    incident, _ = await ctx.writer.submit(work)
    ctx.metrics.intake.labels(category=incident.category, outcome="duplicate").inc()
    return incident


async def unlink_call(ctx: Ctx, incident_id: int, call_id: int, user: User) -> Incident:
    """A supervisor undoes a duplicate link; the call is open again for a decision."""
    require_role(user, UserRole.SUPERVISOR, UserRole.ADMIN)
    now = ctx.clock()

    async def work(tx: Tx) -> tuple[Incident, list[NewEvent]]:
        incident = await _locked(tx, incident_id)
        call = next((c for c in incident.calls if c.id == call_id), None)
        if call is None:
            raise NotFound(f"call {call_id} is not linked to incident {incident_id}")
        if call.outcome != "duplicate":
            raise InvalidTransition(f"call {call_id} opened incident {incident_id}; merge instead")
        unlinked = await tx.unlink_call(call_id)
        after = replace(incident, calls=tuple(c for c in incident.calls if c.id != call_id))
        data: JSONObject = {"call": dump_call(unlinked)}
        event = incident_event("call.unlinked", user, now, after, data, call_id=call_id)
        return after, [event]

    incident, _ = await ctx.writer.submit(work)
    return incident


async def merge_incidents(ctx: Ctx, source_id: int, into_id: int, user: User) -> Incident:
    """One incident replaces another (EIDO REPLACING/REPLACED): calls and agencies move over.

    Both timelines are kept: the replaced incident closes as a duplicate and points to the
    one that replaces it. Returns the incident that remains.
    """
    require_role(user, UserRole.SUPERVISOR, UserRole.ADMIN)
    if source_id == into_id:
        raise BadInput({"into": "an incident cannot replace itself"})
    now = ctx.clock()

    async def work(tx: Tx) -> tuple[Incident, list[NewEvent]]:
        # Locks in id order, so that two merges of the same pair cannot deadlock.
        first, second = sorted((source_id, into_id))
        locked = {first: await _locked(tx, first), second: await _locked(tx, second)}
        source, target = locked[source_id], locked[into_id]
        require_open(source)
        require_open(target)
        on_target = {a.agency for a in target.assignments if a.status not in TERMINAL}
        moving = tuple(
            replace(a, role=AssignmentRole.SUPPORT)
            for a in source.assignments
            if a.status not in TERMINAL and a.agency not in on_target
        )
        note = f"merged into incident {into_id}"
        closed_source = close(source, CloseReason.DUPLICATE, now, note)
        await _persist(tx, source, closed_source)
        await tx.set_merged_into(source_id, into_id)
        await tx.move_calls(source_id, into_id)
        kept = tuple(a for a in target.assignments if a.agency not in {m.agency for m in moving})
        merged = settle(target, (*kept, *moving), now)
        merged = replace(merged, calls=(*target.calls, *source.calls))
        await _persist(tx, target, merged)
        replaced = replace(closed_source, merged_into=into_id, calls=())
        events = [
            incident_event(
                "incident.merged",
                user,
                now,
                replaced,
                {"replaced_by": into_id},
                also_to=merged.agencies,
            ),
            incident_event("incident.merged", user, now, merged, {"replaces": source_id}),
        ]
        return merged, events

    incident, _ = await ctx.writer.submit(work)
    return incident


async def set_block(ctx: Ctx, phone: str, blocked: bool, reason: str, user: User) -> CallerView:
    """A supervisor blocks or unblocks a number, with the reason in the audit trail."""
    require_role(user, UserRole.SUPERVISOR, UserRole.ADMIN)
    now = ctx.clock()
    action = "block" if blocked else "unblock"

    async def work(tx: Tx) -> tuple[None, list[NewEvent]]:
        await tx.insert_number_action(phone, action, reason, user.username, now)
        data: JSONObject = {"phone": phone, "reason": reason}
        return None, [user_event(f"number.{action}ed", user, now, data)]

    await ctx.writer.submit(work)
    return await view_caller(ctx, phone, now)


# --- deadlines and escalation --------------------------------------------------------------


class DeadlineWatch:
    """The schedule of acknowledge deadlines, kept in step with committed events.

    Only a cache: when a deadline fires, the database decides (status still dispatched, level
    not yet reached), so it fires exactly once however often it is scheduled, and a restart
    rebuilds it from the open incidents.
    """

    def __init__(self, policy: DeadlinePolicy) -> None:
        self.policy = policy
        self._heap: list[tuple[datetime, int, str, int]] = []
        # One firing round at a time, so that whoever asks to fire sees the round finished.
        self.firing = asyncio.Lock()

    def schedule(self, incident: Incident) -> None:
        if incident.status is IncidentStatus.CLOSED:
            return
        for a in incident.assignments:
            if a.status is not AssignmentStatus.DISPATCHED:
                continue
            due = self.policy.next_due(
                a.dispatched_at, incident.priority, incident.category, a.escalation_level
            )
            if due is not None:
                heapq.heappush(self._heap, (due[0], incident.id, a.agency, due[1]))

    def apply(self, events: Sequence[Event], _committed_at: float) -> None:
        for event in events:
            snapshot = event.data.get("incident")
            if isinstance(snapshot, dict) and snapshot.get("status") != "closed":
                self._schedule_snapshot(snapshot)

    def _schedule_snapshot(self, snapshot: JSONObject) -> None:
        incident_id, priority = snapshot.get("id"), snapshot.get("priority")
        category, assignments = snapshot.get("category"), snapshot.get("assignments")
        if not (
            isinstance(incident_id, int)
            and isinstance(priority, int)
            and isinstance(category, str)
            and isinstance(assignments, list)
        ):
            return
        for a in assignments:
            if not isinstance(a, dict) or a.get("status") != "dispatched":
                continue
            agency, dispatched, level = (
                a.get("agency"),
                a.get("dispatched_at"),
                a.get("escalation_level"),
            )
            if isinstance(agency, str) and isinstance(dispatched, str) and isinstance(level, int):
                due = self.policy.next_due(
                    datetime.fromisoformat(dispatched), priority, category, level
                )
                if due is not None:
                    heapq.heappush(self._heap, (due[0], incident_id, agency, due[1]))

    def pop_due(self, now: datetime) -> list[tuple[datetime, int, str, int]]:
        due = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap))
        return due

    def push(self, item: tuple[datetime, int, str, int]) -> None:
        heapq.heappush(self._heap, item)

    def next_at(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None


async def fire_due_deadlines(ctx: Ctx) -> int:
    """Escalate every assignment whose deadline has passed; returns how many changed."""
    fired = 0
    async with ctx.deadlines.firing:
        due = ctx.deadlines.pop_due(ctx.clock())
        # Submitted together, so that the writer commits them in a few batches, not one each.
        results = await asyncio.gather(
            *(
                escalate(ctx, incident_id, agency, level, at)
                for at, incident_id, agency, level in due
            ),
            return_exceptions=True,
        )
        for item, result in zip(due, results, strict=True):
            if isinstance(result, Unavailable):
                ctx.deadlines.push(item)  # the database is away: try again on the next tick
            elif isinstance(result, BaseException):
                log.error("escalation of %s failed", item, exc_info=result)
            else:
                fired += result
    return fired


async def watch_deadlines(ctx: Ctx) -> None:
    """Background task: wake at the next deadline (at least once a second) and fire it."""
    while True:
        try:
            await fire_due_deadlines(ctx)
        except Exception:
            log.exception("deadline watch failed; retrying")
        next_at = ctx.deadlines.next_at()
        wait = 1.0 if next_at is None else (next_at - ctx.clock()).total_seconds()
        await asyncio.sleep(min(1.0, max(0.01, wait)))


async def escalate(ctx: Ctx, incident_id: int, agency: str, level: int, due: datetime) -> int:
    """Raise an unacknowledged assignment to ``level``; a no-op if it moved on meanwhile."""
    now = ctx.clock()

    async def work(tx: Tx) -> tuple[int, list[NewEvent]]:
        incident = await _locked(tx, incident_id)
        late = next((a for a in incident.assignments if a.agency == agency), None)
        if (
            incident.status is IncidentStatus.CLOSED
            or late is None
            or late.status is not AssignmentStatus.DISPATCHED
            or late.escalation_level >= level
        ):
            return 0, []
        raised = replace(late, escalation_level=level)
        assignments = tuple(raised if a is late else a for a in incident.assignments)
        fallback = None
        if level >= ESCALATED:
            assignments, fallback = _with_fallback(ctx, incident, assignments, late, now)
        after = settle(incident, assignments, now)
        await _persist(tx, incident, after)
        data: JSONObject = {
            "agency": agency,
            "level": level,
            "deadline": due.isoformat(),
            "late_s": round((now - late.dispatched_at).total_seconds()),
            "fallback": fallback.agency if fallback else None,
        }
        kind = "assignment.escalated" if level >= ESCALATED else "assignment.overdue"
        events = [incident_event(kind, None, now, after, data)]
        if fallback is not None:
            events.append(_created(fallback, after, now, f"{agency} did not acknowledge"))
        return 1, events

    fired, _ = await ctx.writer.submit(work, background=True)
    return fired


# --- KPIs and audit -------------------------------------------------------------------------


async def stats(ctx: Ctx, start: datetime, end: datetime, user: User) -> JSONObject:
    """KPIs of incidents and calls in [start, end) against the standards (DESIGN §6)."""
    require_role(user, UserRole.SUPERVISOR, UserRole.ADMIN)
    policy = ctx.deadlines.policy
    dispatches = [
        kpis.AssignmentTimes(
            agency=r["agency"],
            category=r["category"],
            acknowledge_s=r["ack_s"],
            response_s=r["response_s"],
            resolution_s=r["resolution_s"],
            deadline_s=policy.acknowledge_within(r["priority"], r["category"]),
        )
        for r in await ctx.store.dispatch_times(start, end)
    ]
    calls = [
        (at, screening.Outcome(o) if o else None)
        for at, o in await ctx.store.call_outcomes(start, end)
    ]
    by_hour = screening.count_outcomes(calls, by="hour")
    by_day = screening.count_outcomes(calls, by="day")
    report = kpis.report(
        await ctx.store.answer_times(start, end),
        await ctx.store.processing_times(start, end),
        dispatches,
        {hour: dict(counts) for hour, counts in by_hour.items()},
    )
    report["outcomes_by_day"] = {day: dict(counts) for day, counts in by_day.items()}
    return {"from": start.isoformat(), "to": end.isoformat(), **report}


async def audit(
    ctx: Ctx,
    user: User,
    *,
    incident_id: int | None,
    actor: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[Event]:
    """Who did what, when and from which screen: the event log, for supervisors and admins."""
    require_role(user, UserRole.SUPERVISOR, UserRole.ADMIN)
    return await ctx.store.list_audit(incident_id, actor, start, end, limit)


def explain_route(ctx: Ctx, location: Location, category: str) -> routing.Route:
    return ctx.rules.route(location.lat, location.lon, category, now=ctx.clock())


def load_rules(directory: Path) -> routing.RoutingTable:
    """Load and validate a rule set; raises routing.RulesError listing every problem."""
    return routing.RoutingTable.load(directory)


class RulesRefused(DomainError):
    """A new rule set failed validation; the one in force stays."""

    code = "rules_refused"

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("rule set refused; the previous one stays in force")
        self.problems = list(problems)


def _load_all(directory: Path) -> tuple[routing.RoutingTable, DeadlinePolicy]:
    rules = load_rules(directory)
    return rules, DeadlinePolicy.load(directory, rules.categories)


async def reload_rules(ctx: Ctx, user: User | None) -> tuple[str, str]:
    """Validate the rule set on disk, then swap it in; a bad one is refused and nothing changes.

    Returns (previous version, new version). ``user`` None is a SIGHUP from the operator.
    """
    if user is not None:
        require_role(user, UserRole.ADMIN)
    try:
        # Loading builds the spatial index (most of a second): keep it off the event loop.
        rules, policy = await asyncio.to_thread(_load_all, ctx.settings.rules_dir)
    except routing.RulesError as exc:
        raise RulesRefused([str(p) for p in exc.problems]) from None
    except DeadlinesError as exc:
        raise RulesRefused(str(exc).splitlines()) from None
    previous = ctx.rules.version
    ctx.rules = rules
    ctx.deadlines.policy = policy
    now = ctx.clock()

    async def work(tx: Tx) -> tuple[None, list[NewEvent]]:
        data: JSONObject = {"previous_version": previous, "version": rules.version}
        actor = user.username if user else "system"
        via = user.via if user else "sighup"
        return None, [NewEvent("rules.reloaded", actor, now, data=data, via=via)]

    await ctx.writer.submit(work)
    return previous, rules.version
