"""The pure incident core: the transition table, derived incident status, parsing, redaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dispatch.incidents import (
    TRANSITIONS,
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    BadInput,
    IncidentStatus,
    InvalidTransition,
    all_resolved,
    incident_status,
    parse_intake,
    parse_new_call,
    parse_status_change,
    redact_incident,
    stamp,
    transition,
)

S = AssignmentStatus
T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
CATEGORIES = {"kebakaran", "medis"}

LEGAL = [
    (S.DISPATCHED, S.ACKNOWLEDGED, "assignment.acknowledged"),
    (S.DISPATCHED, S.DECLINED, "assignment.declined"),
    (S.DISPATCHED, S.CANCELLED, "assignment.cancelled"),
    (S.ACKNOWLEDGED, S.EN_ROUTE, "assignment.en_route"),
    (S.ACKNOWLEDGED, S.ON_SCENE, "assignment.on_scene"),
    (S.ACKNOWLEDGED, S.RESOLVED, "assignment.resolved"),
    (S.EN_ROUTE, S.ON_SCENE, "assignment.on_scene"),
    (S.EN_ROUTE, S.RESOLVED, "assignment.resolved"),
    (S.ON_SCENE, S.RESOLVED, "assignment.resolved"),
    (S.ON_SCENE, S.CANCELLED, "assignment.cancelled"),
]


@pytest.mark.parametrize(("current", "requested", "event_type"), LEGAL)
def test_legal_transition_names_its_event(current: S, requested: S, event_type: str) -> None:
    assert transition(current, requested) == event_type


ILLEGAL = [
    (current, requested)
    for current in S
    for requested in S
    if (current, requested) not in TRANSITIONS
]


@pytest.mark.parametrize(("current", "requested"), ILLEGAL)
def test_every_change_outside_the_table_is_refused(current: S, requested: S) -> None:
    with pytest.raises(InvalidTransition):
        transition(current, requested)


def test_dispatched_assignment_must_be_acknowledged_before_en_route() -> None:
    with pytest.raises(InvalidTransition, match="dispatched to en_route"):
        transition(S.DISPATCHED, S.EN_ROUTE)


def test_terminal_states_have_no_way_out() -> None:
    for terminal in (S.RESOLVED, S.DECLINED, S.CANCELLED):
        assert not [k for k in TRANSITIONS if k[0] is terminal]


def _a(agency: str, status: S) -> Assignment:
    return Assignment(agency, AssignmentRole.PRIMARY, status, "r1", T0)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([S.DISPATCHED, S.DISPATCHED], IncidentStatus.DISPATCHED),
        ([S.DISPATCHED, S.ACKNOWLEDGED], IncidentStatus.ACKNOWLEDGED),
        ([S.ON_SCENE, S.ACKNOWLEDGED], IncidentStatus.ON_SCENE),
        ([S.RESOLVED, S.EN_ROUTE], IncidentStatus.EN_ROUTE),
        ([S.DECLINED, S.DISPATCHED], IncidentStatus.DISPATCHED),
    ],
)
def test_incident_status_follows_the_most_advanced_live_assignment(
    statuses: list[S], expected: IncidentStatus
) -> None:
    assert incident_status([_a(f"A{i}", s) for i, s in enumerate(statuses)]) is expected


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([S.RESOLVED], True),
        ([S.RESOLVED, S.DECLINED], True),
        ([S.RESOLVED, S.ON_SCENE], False),
        ([S.DECLINED, S.CANCELLED], False),
    ],
)
def test_incident_is_resolved_when_no_assignment_is_live_and_one_resolved(
    statuses: list[S], expected: bool
) -> None:
    assert all_resolved([_a(f"A{i}", s) for i, s in enumerate(statuses)]) is expected


def test_stamp_records_only_the_step_taken_and_never_back_fills() -> None:
    later = datetime(2026, 11, 22, 2, 5, tzinfo=UTC)
    moved = stamp(_a("DAMKAR", S.ACKNOWLEDGED), S.ON_SCENE, later, "tiba")
    assert moved.status is S.ON_SCENE
    assert moved.on_scene_at == later
    assert moved.en_route_at is None
    assert moved.note == "tiba"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"location": {"lat": -6.1, "lon": 106.1}, "phone": "0812"}, "category"),
        (
            {
                "category": "banjir_bandang",
                "location": {"lat": -6.1, "lon": 106.1},
                "phone": "0812",
            },
            "category",
        ),
        ({"category": "medis", "phone": "0812"}, "location"),
        (
            {"category": "medis", "location": {"lat": "x", "lon": 106.1}, "phone": "0812"},
            "location.lat",
        ),
        (
            {"category": "medis", "location": {"lat": -91, "lon": 106.1}, "phone": "0812"},
            "location.lat",
        ),
        (
            {"category": "medis", "location": {"lat": -6.1, "lon": 181}, "phone": "0812"},
            "location.lon",
        ),
        (
            {
                "category": "medis",
                "location": {"lat": -6.1, "lon": 106.1, "accuracy_m": -1},
                "phone": "0812",
            },
            "location.accuracy_m",
        ),
        ({"category": "medis", "location": {"lat": -6.1, "lon": 106.1}}, "call_id"),
        (
            {"category": "medis", "location": {"lat": -6.1, "lon": 106.1}, "phone": "call me"},
            "phone",
        ),
        ({"category": "medis", "location": {"lat": -6.1, "lon": 106.1}, "call_id": "7"}, "call_id"),
        (
            {
                "category": "medis",
                "location": {"lat": -6.1, "lon": 106.1},
                "phone": "0812",
                "priority": 0,
            },
            "priority",
        ),
        (
            {
                "category": "medis",
                "location": {"lat": -6.1, "lon": 106.1},
                "phone": "0812",
                "priority": True,
            },
            "priority",
        ),
        (
            {
                "category": "medis",
                "location": {"lat": -6.1, "lon": 106.1},
                "phone": "0812",
                "client_ref": "a b",
            },
            "client_ref",
        ),
        (
            {
                "category": "medis",
                "location": {"lat": -6.1, "lon": 106.1},
                "phone": "0812",
                "description": 5,
            },
            "description",
        ),
    ],
)
def test_bad_intake_names_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_intake(body, CATEGORIES)  # type: ignore[arg-type]
    assert field in caught.value.fields


def test_intake_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(BadInput) as caught:
        parse_intake([1, 2], CATEGORIES)
    assert "body" in caught.value.fields


def test_good_intake_is_parsed_with_defaults() -> None:
    intake = parse_intake(
        {"category": "kebakaran", "location": {"lat": -6.12, "lon": 106.15}, "phone": "+62 812 1"},
        CATEGORIES,
    )
    assert intake.phone == "+628121"
    assert intake.priority is None
    assert intake.description == ""


def test_call_received_at_needs_an_offset() -> None:
    with pytest.raises(BadInput) as caught:
        parse_new_call({"phone": "0812", "received_at": "2026-11-22T10:00:00"})
    assert "received_at" in caught.value.fields


def test_agency_cannot_request_cancelled_through_status() -> None:
    with pytest.raises(BadInput) as caught:
        parse_status_change({"status": "cancelled"})
    assert "status" in caught.value.fields


def test_support_agency_does_not_see_caller_numbers_but_primary_does() -> None:
    incident = {
        "assignments": [
            {"agency": "DAMKAR", "role": "primary"},
            {"agency": "BPBD", "role": "support"},
        ],
        "calls": [{"id": 1, "phone": "0812"}],
    }
    assert redact_incident(incident, "DAMKAR")["calls"] == [{"id": 1, "phone": "0812"}]
    assert redact_incident(incident, "BPBD")["calls"] == [{"id": 1}]
