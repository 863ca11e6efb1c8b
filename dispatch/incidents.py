"""Pure incident domain: enums, frozen records, the assignment transition table, input parsing.

It decides what a change means and which events it makes; it must not do I/O, read the clock
(``now`` is passed in) or know about HTTP beyond turning bad input into ``BadInput``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

# JSON values as they come off the wire and go into jsonb; no Any in the domain.
JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"
JSONObject: TypeAlias = "dict[str, JSON]"


class UserRole(StrEnum):
    CALLTAKER = "calltaker"
    SUPERVISOR = "supervisor"
    AGENCY = "agency"
    ADMIN = "admin"


class Channel(StrEnum):
    VOICE = "voice"
    SMS = "sms"
    APP = "app"


class AssignmentRole(StrEnum):
    PRIMARY = "primary"
    SUPPORT = "support"


class AssignmentStatus(StrEnum):
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class IncidentStatus(StrEnum):
    """Follows from the assignments (the most advanced live one), except ``closed``."""

    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    CLOSED = "closed"


class CloseReason(StrEnum):
    RESOLVED = "resolved"
    DUPLICATE = "duplicate"
    PRANK = "prank"
    UNFOUNDED = "unfounded"
    REFERRED = "referred"
    CANCELLED = "cancelled"


A = AssignmentStatus
# The one transition table: (current status, requested status) -> event type. Anything not
# listed is illegal (409). An agency must acknowledge before it moves, and a unit that jumps
# from acknowledged to on scene leaves en route empty: timestamps are never back-filled.
TRANSITIONS: Mapping[tuple[AssignmentStatus, AssignmentStatus], str] = {
    (A.DISPATCHED, A.ACKNOWLEDGED): "assignment.acknowledged",
    (A.DISPATCHED, A.DECLINED): "assignment.declined",
    (A.DISPATCHED, A.CANCELLED): "assignment.cancelled",
    (A.ACKNOWLEDGED, A.EN_ROUTE): "assignment.en_route",
    (A.ACKNOWLEDGED, A.ON_SCENE): "assignment.on_scene",
    (A.ACKNOWLEDGED, A.RESOLVED): "assignment.resolved",
    (A.ACKNOWLEDGED, A.CANCELLED): "assignment.cancelled",
    (A.EN_ROUTE, A.ON_SCENE): "assignment.on_scene",
    (A.EN_ROUTE, A.RESOLVED): "assignment.resolved",
    (A.EN_ROUTE, A.CANCELLED): "assignment.cancelled",
    (A.ON_SCENE, A.RESOLVED): "assignment.resolved",
    (A.ON_SCENE, A.CANCELLED): "assignment.cancelled",
}
TERMINAL = frozenset({A.RESOLVED, A.DECLINED, A.CANCELLED})
# Statuses an agency may set through POST /incidents/{id}/status; cancelling is the centre's.
AGENCY_SETTABLE = frozenset({A.ACKNOWLEDGED, A.EN_ROUTE, A.ON_SCENE, A.RESOLVED, A.DECLINED})
_PROGRESS = (A.DISPATCHED, A.ACKNOWLEDGED, A.EN_ROUTE, A.ON_SCENE)


class DomainError(Exception):
    """Base of the errors the edge maps to HTTP statuses in one place."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(DomainError):
    """One or more fields are missing or wrong; ``fields`` maps each to the reason."""

    code = "bad_input"

    def __init__(self, fields: Mapping[str, str], message: str = "invalid input") -> None:
        super().__init__(message)
        self.fields = dict(fields)

    def __str__(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.fields.items())


class NotFound(DomainError):
    code = "not_found"


class Forbidden(DomainError):
    code = "forbidden"


class Unauthorized(DomainError):
    code = "unauthorized"


class InvalidTransition(DomainError):
    code = "invalid_transition"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: UserRole
    agency: str | None
    # The screen this request came from (X-Dispatch-Screen), recorded with each change.
    via: str = "api"

    @property
    def is_centre(self) -> bool:
        """Call-takers, supervisors and admins work for the centre and see all of it."""
        return self.role is not UserRole.AGENCY


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass(frozen=True, slots=True)
class NewCall:
    """A call as reported. A telephony gateway gives ``received_at`` (ringing) and maybe
    ``answered_at``; a call keyed by a call-taker is answered as it is recorded."""

    phone: str
    channel: Channel
    received_at: datetime | None
    location: Location | None
    answered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Intake:
    """What a call-taker submits to open an incident."""

    category: str
    location: Location
    call_id: int | None
    phone: str | None
    description: str
    priority: int | None
    client_ref: str | None


@dataclass(frozen=True, slots=True)
class Assignment:
    agency: str
    role: AssignmentRole
    status: AssignmentStatus
    rule_id: str
    dispatched_at: datetime
    acknowledged_at: datetime | None = None
    en_route_at: datetime | None = None
    on_scene_at: datetime | None = None
    resolved_at: datetime | None = None
    declined_at: datetime | None = None
    cancelled_at: datetime | None = None
    note: str | None = None
    # 0 on time, 1 overdue (acknowledge deadline passed), 2 escalated to the fallback agency.
    escalation_level: int = 0


@dataclass(frozen=True, slots=True)
class CallRecord:
    id: int
    phone: str
    channel: Channel
    received_at: datetime
    location: Location | None
    outcome: str | None
    incident_id: int | None
    outcome_at: datetime | None = None
    note: str | None = None
    # The screening verdict shown when the call arrived (prank score, block, reasons).
    screening: JSONObject | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    category: str
    priority: int
    location: Location
    zone: str | None
    zone_name: str | None
    kecamatan: str | None
    out_of_area: bool
    handover: str | None
    description: str
    status: IncidentStatus
    close_reason: CloseReason | None
    rule_id: str
    ruleset_version: str
    units: tuple[JSONObject, ...]
    created_at: datetime
    created_by: str
    client_ref: str | None
    closed_at: datetime | None = None
    merged_into: int | None = None
    assignments: tuple[Assignment, ...] = ()
    calls: tuple[CallRecord, ...] = ()

    @property
    def agencies(self) -> tuple[str, ...]:
        return tuple(a.agency for a in self.assignments)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event before the store gives it its ``seq``."""

    type: str
    actor: str
    at: datetime
    incident_id: int | None = None
    call_id: int | None = None
    # Agencies allowed to see the event; the centre sees every event.
    agencies: tuple[str, ...] = ()
    data: JSONObject = field(default_factory=dict)
    # The screen (calltaker, supervisor, opd) or client (api, system) the change came from.
    via: str = "api"


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    type: str
    actor: str
    at: datetime
    incident_id: int | None
    call_id: int | None
    agencies: tuple[str, ...]
    data: JSONObject
    via: str = "api"


# --- state machine -------------------------------------------------------------------------


def transition(current: AssignmentStatus, requested: AssignmentStatus) -> str:
    """Return the event type for a legal change, or raise InvalidTransition."""
    event_type = TRANSITIONS.get((current, requested))
    if event_type is None:
        raise InvalidTransition(f"assignment cannot go from {current} to {requested}")
    return event_type


def incident_status(assignments: Sequence[Assignment]) -> IncidentStatus:
    """The most advanced status among live assignments; dispatched when none has moved."""
    live = [a.status for a in assignments if a.status not in TERMINAL]
    if not live:
        return IncidentStatus.DISPATCHED
    return IncidentStatus(max(live, key=_PROGRESS.index).value)


def all_resolved(assignments: Sequence[Assignment]) -> bool:
    """True when no assignment is live and at least one agency resolved the incident."""
    return all(a.status in TERMINAL for a in assignments) and any(
        a.status is A.RESOLVED for a in assignments
    )


def stamp(
    assignment: Assignment, status: AssignmentStatus, now: datetime, note: str | None
) -> Assignment:
    """The assignment after a legal change, with the time of that step (and only that step)."""
    a = replace(assignment, status=status, note=note or assignment.note)
    match status:
        case A.ACKNOWLEDGED:
            return replace(a, acknowledged_at=now)
        case A.EN_ROUTE:
            return replace(a, en_route_at=now)
        case A.ON_SCENE:
            return replace(a, on_scene_at=now)
        case A.RESOLVED:
            return replace(a, resolved_at=now)
        case A.DECLINED:
            return replace(a, declined_at=now)
        case A.CANCELLED:
            return replace(a, cancelled_at=now)
        case A.DISPATCHED:
            return replace(a, dispatched_at=now)


def settle(incident: Incident, assignments: tuple[Assignment, ...], now: datetime) -> Incident:
    """The incident with these assignments and the status that follows from them.

    It closes as resolved once no agency is still working and at least one resolved it.
    """
    if all_resolved(assignments):
        return replace(
            incident,
            assignments=assignments,
            status=IncidentStatus.CLOSED,
            close_reason=CloseReason.RESOLVED,
            closed_at=now,
        )
    return replace(incident, assignments=assignments, status=incident_status(assignments))


def close(incident: Incident, reason: CloseReason, now: datetime, note: str | None) -> Incident:
    """Close with a reason; agencies still working are stood down (cancelled)."""
    if incident.status is IncidentStatus.CLOSED:
        raise InvalidTransition(f"incident {incident.id} is already closed")
    assignments = tuple(
        a if a.status in TERMINAL else stamp(a, A.CANCELLED, now, note)
        for a in incident.assignments
    )
    return replace(
        incident,
        assignments=assignments,
        status=IncidentStatus.CLOSED,
        close_reason=reason,
        closed_at=now,
    )


def require_open(incident: Incident) -> None:
    if incident.status is IncidentStatus.CLOSED:
        raise InvalidTransition(f"incident {incident.id} is closed")


def incident_event(
    type_: str,
    actor: User | None,
    at: datetime,
    incident: Incident,
    data: JSONObject | None = None,
    *,
    also_to: tuple[str, ...] = (),
    call_id: int | None = None,
) -> NewEvent:
    """An event about an incident, carrying its snapshot, for its agencies (and ``also_to``).

    ``actor`` None is the system itself (deadlines, escalation).
    """
    agencies = tuple(dict.fromkeys(incident.agencies + also_to))
    return NewEvent(
        type_,
        actor.username if actor else "system",
        at,
        incident_id=incident.id,
        call_id=call_id,
        agencies=agencies,
        data={**(data or {}), "incident": dump_incident(incident)},
        via=actor.via if actor else "system",
    )


def user_event(
    type_: str, actor: User, at: datetime, data: JSONObject, *, call_id: int | None = None
) -> NewEvent:
    """An event for the centre only (calls, numbers): no agency sees it."""
    return NewEvent(type_, actor.username, at, call_id=call_id, data=data, via=actor.via)


# --- visibility ----------------------------------------------------------------------------


def can_see(user: User, incident_agencies: Container[str]) -> bool:
    return user.is_centre or (user.agency is not None and user.agency in incident_agencies)


def event_visible(event: Event, agency: str | None) -> bool:
    """``agency`` None is the centre, which sees every event."""
    return agency is None or agency in event.agencies


def redact_incident(incident: JSONObject, agency: str) -> JSONObject:
    """An agency gets the callers' numbers only when it leads the response (primary)."""
    assignments = incident.get("assignments")
    is_primary = isinstance(assignments, list) and any(
        isinstance(a, dict) and a.get("agency") == agency and a.get("role") == "primary"
        for a in assignments
    )
    calls = incident.get("calls")
    if is_primary or not isinstance(calls, list):
        return incident
    hidden: list[JSON] = [
        {k: v for k, v in c.items() if k != "phone"} if isinstance(c, dict) else c for c in calls
    ]
    return {**incident, "calls": hidden}


def redact_for_agency(data: JSONObject, agency: str) -> JSONObject:
    incident = data.get("incident")
    if not isinstance(incident, dict):
        return data
    return {**data, "incident": redact_incident(incident, agency)}


# --- parsing at the edge -------------------------------------------------------------------

_PHONE = re.compile(r"^\+?[0-9]{3,20}$")
_CLIENT_REF = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
MAX_DESCRIPTION = 2000


def _obj(body: JSON, name: str = "body") -> JSONObject:
    if not isinstance(body, dict):
        raise BadInput({name: "must be a JSON object"})
    return body


def _number(value: JSON) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def parse_location(value: JSON, errors: dict[str, str], name: str = "location") -> Location | None:
    if not isinstance(value, dict):
        errors[name] = "must be an object {lat, lon, accuracy_m?}"
        return None
    lat, lon = _number(value.get("lat")), _number(value.get("lon"))
    if lat is None or not -90 <= lat <= 90:
        errors[f"{name}.lat"] = "must be a number from -90 to 90"
    if lon is None or not -180 <= lon <= 180:
        errors[f"{name}.lon"] = "must be a number from -180 to 180"
    accuracy: float | None = None
    if value.get("accuracy_m") is not None:
        accuracy = _number(value.get("accuracy_m"))
        if accuracy is None or not 0 <= accuracy <= 100_000:
            errors[f"{name}.accuracy_m"] = "must be a number of metres from 0 to 100000"
    if lat is None or lon is None or any(k.startswith(f"{name}.") for k in errors):
        return None
    return Location(lat=lat, lon=lon, accuracy_m=accuracy)


def parse_phone(value: JSON, errors: dict[str, str], name: str = "phone") -> str | None:
    if not isinstance(value, str) or not _PHONE.match(value.replace(" ", "")):
        errors[name] = "must be a phone number of 3 to 20 digits, optionally starting with +"
        return None
    return value.replace(" ", "")


def parse_time(value: JSON, errors: dict[str, str], name: str) -> datetime | None:
    if not isinstance(value, str):
        errors[name] = "must be an ISO 8601 timestamp with offset"
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        errors[name] = "must be an ISO 8601 timestamp with offset"
        return None
    if parsed.tzinfo is None:
        errors[name] = "must carry a UTC offset, e.g. 2026-11-22T14:00:00+07:00"
        return None
    return parsed


def parse_new_call(body: JSON) -> NewCall:
    obj = _obj(body)
    errors: dict[str, str] = {}
    phone = parse_phone(obj.get("phone"), errors)
    channel = Channel.VOICE
    if obj.get("channel") is not None:
        raw = obj.get("channel")
        if raw not in {c.value for c in Channel}:
            errors["channel"] = f"must be one of {', '.join(c.value for c in Channel)}"
        else:
            channel = Channel(str(raw))
    location = None
    if obj.get("location") is not None:
        location = parse_location(obj.get("location"), errors)
    received_at = answered_at = None
    if obj.get("received_at") is not None:
        received_at = parse_time(obj.get("received_at"), errors, "received_at")
    if obj.get("answered_at") is not None:
        answered_at = parse_time(obj.get("answered_at"), errors, "answered_at")
        if received_at is None:
            errors["answered_at"] = "needs received_at (when the call started ringing)"
        elif answered_at is not None and answered_at < received_at:
            errors["answered_at"] = "must not be before received_at"
    if errors or phone is None:
        raise BadInput(errors)
    return NewCall(phone, channel, received_at, location, answered_at)


def parse_intake(body: JSON, categories: Container[str]) -> Intake:
    """Check every field of an incident submission and name each one that is wrong."""
    obj = _obj(body)
    errors: dict[str, str] = {}
    category = obj.get("category")
    if not isinstance(category, str) or category not in categories:
        errors["category"] = "unknown category (see GET /api/v1/categories)"
    location = parse_location(obj.get("location"), errors)
    call_id: int | None = None
    phone: str | None = None
    raw_call = obj.get("call_id")
    if raw_call is not None:
        if isinstance(raw_call, bool) or not isinstance(raw_call, int) or raw_call < 1:
            errors["call_id"] = "must be a positive integer"
        else:
            call_id = raw_call
    elif obj.get("phone") is not None:
        phone = parse_phone(obj.get("phone"), errors)
    else:
        errors["call_id"] = "give call_id (a received call) or phone"
    description = obj.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        errors["description"] = f"must be text of at most {MAX_DESCRIPTION} characters"
        description = ""
    priority = obj.get("priority")
    if priority is not None and (
        isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 4
    ):
        errors["priority"] = "must be 1 (highest) to 4"
    client_ref = obj.get("client_ref")
    if client_ref is not None and (
        not isinstance(client_ref, str) or not _CLIENT_REF.match(client_ref)
    ):
        errors["client_ref"] = "must be 1-100 characters of letters, digits, . _ : -"
    if errors or location is None or not isinstance(category, str):
        raise BadInput(errors)
    return Intake(
        category=category,
        location=location,
        call_id=call_id,
        phone=phone,
        description=description.strip(),
        priority=priority if isinstance(priority, int) else None,
        client_ref=client_ref if isinstance(client_ref, str) else None,
    )


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: AssignmentStatus
    note: str | None


def parse_status_change(body: JSON) -> StatusChange:
    obj = _obj(body)
    errors: dict[str, str] = {}
    raw = obj.get("status")
    allowed = sorted(s.value for s in AGENCY_SETTABLE)
    status: AssignmentStatus | None = None
    if not isinstance(raw, str) or raw not in allowed:
        errors["status"] = f"must be one of {', '.join(allowed)}"
    else:
        status = AssignmentStatus(raw)
    # A decline re-routes the incident, so the supervisor must be able to read why.
    note = _note(obj, errors, required=status is AssignmentStatus.DECLINED)
    if errors or status is None:
        raise BadInput(errors)
    return StatusChange(status=status, note=note)


# Outcomes a call-taker gives a call that opens no incident (DESIGN §2).
NON_INCIDENT_OUTCOMES = ("prank", "ghost", "info", "misdial", "abandoned")
CALLBACK_RESULTS = ("reached", "no_answer", "busy", "genuine_emergency", "prank")


def _choice(obj: JSONObject, name: str, allowed: Sequence[str], errors: dict[str, str]) -> str:
    raw = obj.get(name)
    if not isinstance(raw, str) or raw not in allowed:
        errors[name] = f"must be one of {', '.join(allowed)}"
        return ""
    return raw


def _note(
    obj: JSONObject, errors: dict[str, str], name: str = "note", required: bool = False
) -> str | None:
    raw = obj.get(name)
    if raw is None and not required:
        return None
    if not isinstance(raw, str) or len(raw) > MAX_DESCRIPTION or (required and not raw.strip()):
        errors[name] = (
            f"{'required ' if required else ''}text of at most {MAX_DESCRIPTION} characters"
        )
        return None
    return raw.strip()


def _positive_id(obj: JSONObject, name: str, errors: dict[str, str]) -> int:
    raw = obj.get(name)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        errors[name] = "must be a positive integer"
        return 0
    return raw


def parse_outcome(body: JSON) -> tuple[str, str | None]:
    obj = _obj(body)
    errors: dict[str, str] = {}
    outcome = _choice(obj, "outcome", NON_INCIDENT_OUTCOMES, errors)
    note = _note(obj, errors)
    if errors:
        raise BadInput(errors)
    return outcome, note


def parse_callback(body: JSON) -> tuple[str, str | None]:
    obj = _obj(body)
    errors: dict[str, str] = {}
    result = _choice(obj, "result", CALLBACK_RESULTS, errors)
    note = _note(obj, errors)
    if errors:
        raise BadInput(errors)
    return result, note


def parse_id_field(body: JSON, name: str) -> int:
    obj = _obj(body)
    errors: dict[str, str] = {}
    value = _positive_id(obj, name, errors)
    if errors:
        raise BadInput(errors)
    return value


def parse_close(body: JSON) -> tuple[CloseReason, str | None]:
    obj = _obj(body)
    errors: dict[str, str] = {}
    reason = _choice(obj, "reason", [r.value for r in CloseReason], errors)
    note = _note(obj, errors)
    if errors:
        raise BadInput(errors)
    return CloseReason(reason), note


def parse_new_assignment(body: JSON, agencies: Container[str]) -> tuple[str, AssignmentRole]:
    obj = _obj(body)
    errors: dict[str, str] = {}
    agency = obj.get("agency")
    if not isinstance(agency, str) or agency not in agencies:
        errors["agency"] = "unknown agency (see GET /api/v1/agencies)"
    role = _choice(obj, "role", [r.value for r in AssignmentRole], errors)
    if errors or not isinstance(agency, str):
        raise BadInput(errors)
    return agency, AssignmentRole(role)


def parse_reason(body: JSON) -> str:
    """Blocking, unblocking and cancelling need a reason for the audit trail."""
    obj = _obj(body)
    errors: dict[str, str] = {}
    reason = _note(obj, errors, "reason", required=True)
    if errors or reason is None:
        raise BadInput(errors)
    return reason


def parse_credentials(body: JSON) -> tuple[str, str]:
    obj = _obj(body)
    errors: dict[str, str] = {}
    username, password = obj.get("username"), obj.get("password")
    if not isinstance(username, str) or not 1 <= len(username) <= 100:
        errors["username"] = "required"
    if not isinstance(password, str) or not 1 <= len(password) <= 200:
        errors["password"] = "required"  # noqa: S105 (a reason, not a password)
    if errors or not isinstance(username, str) or not isinstance(password, str):
        raise BadInput(errors)
    return username, password


# --- JSON views ----------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def dump_location(location: Location) -> JSONObject:
    out: JSONObject = {"lat": location.lat, "lon": location.lon}
    if location.accuracy_m is not None:
        out["accuracy_m"] = location.accuracy_m
    return out


def dump_assignment(a: Assignment) -> JSONObject:
    return {
        "agency": a.agency,
        "role": a.role.value,
        "status": a.status.value,
        "rule": a.rule_id,
        "dispatched_at": _iso(a.dispatched_at),
        "acknowledged_at": _iso(a.acknowledged_at),
        "en_route_at": _iso(a.en_route_at),
        "on_scene_at": _iso(a.on_scene_at),
        "resolved_at": _iso(a.resolved_at),
        "declined_at": _iso(a.declined_at),
        "cancelled_at": _iso(a.cancelled_at),
        "note": a.note,
        "escalation_level": a.escalation_level,
    }


def dump_call(c: CallRecord) -> JSONObject:
    return {
        "id": c.id,
        "phone": c.phone,
        "channel": c.channel.value,
        "received_at": _iso(c.received_at),
        "location": dump_location(c.location) if c.location else None,
        "outcome": c.outcome,
        "outcome_at": _iso(c.outcome_at),
        "note": c.note,
        "incident_id": c.incident_id,
        "screening": c.screening,
    }


def dump_incident(i: Incident) -> JSONObject:
    return {
        "id": i.id,
        "category": i.category,
        "priority": i.priority,
        "location": dump_location(i.location),
        "zone": i.zone,
        "zone_name": i.zone_name,
        "kecamatan": i.kecamatan,
        "out_of_area": i.out_of_area,
        "handover": i.handover,
        "description": i.description,
        "status": i.status.value,
        "close_reason": i.close_reason.value if i.close_reason else None,
        "rule": i.rule_id,
        "ruleset_version": i.ruleset_version,
        "units": list(i.units),
        "created_at": _iso(i.created_at),
        "created_by": i.created_by,
        "closed_at": _iso(i.closed_at),
        "merged_into": i.merged_into,
        "client_ref": i.client_ref,
        # One canonical order (leaders first, then by dispatch), the same as the store's.
        "assignments": [
            dump_assignment(a)
            for a in sorted(i.assignments, key=lambda a: (a.role, a.dispatched_at, a.agency))
        ],
        "calls": [dump_call(c) for c in i.calls],
    }


def dump_event(e: Event, agency: str | None = None) -> JSONObject:
    """The stream/timeline view of an event; agencies get the redacted payload."""
    data = e.data if agency is None else redact_for_agency(e.data, agency)
    return {
        "seq": e.seq,
        "type": e.type,
        "incident_id": e.incident_id,
        "call_id": e.call_id,
        "actor": e.actor,
        "via": e.via,
        "at": e.at.isoformat(),
        "data": data,
    }
