"""Acknowledge deadlines, escalation, decline, restart, KPIs and audit, with a controlled clock."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from aiohttp.test_utils import TestServer

from dispatch.actions import fire_due_deadlines
from dispatch.app import create_app
from dispatch.routing import RoutingTable
from dispatch.settings import Settings
from dispatch.web import CTX
from tests.conftest import Api, FakeClock, drain, fire


async def fire_deadlines(app: web.Application) -> int:
    return await fire_due_deadlines(app[CTX])


async def test_unacknowledged_p1_fire_goes_overdue_once_then_reaches_the_fallback(
    api: Api, app: web.Application, clock: FakeClock
) -> None:
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire(priority=1))
    supervisor, damkar = await api.stream("supervisor1"), await api.stream("damkar")
    bpbd = await api.stream("bpbd")
    await drain(supervisor)
    await drain(damkar)
    clock.advance(29)
    assert await fire_deadlines(app) == 0
    clock.advance(1)  # the P1 fire deadline: 30 s
    await fire_deadlines(app)
    await fire_deadlines(app)
    overdue = [m for m in await drain(supervisor) if m["type"] == "assignment.overdue"]
    assert sorted(m["data"]["agency"] for m in overdue) == ["DAMKAR", "DINKES"]
    assert "assignment.overdue" in [m["type"] for m in await drain(damkar)]  # re-alerted
    clock.advance(30)
    await fire_deadlines(app)
    got = await drain(supervisor)
    escalated = [m for m in got if m["type"] == "assignment.escalated"]
    assert [m["data"]["agency"] for m in escalated if m["data"]["fallback"]] == ["DAMKAR"]
    assert escalated[0]["data"]["fallback"] == "BPBD"
    created = [m for m in await drain(bpbd) if m["type"] == "assignment.created"]
    assert created[0]["data"]["agency"] == "BPBD"
    _, now = await api.get(f"/api/v1/incidents/{incident['id']}", "supervisor1")
    bpbd_assignment = next(a for a in now["assignments"] if a["agency"] == "BPBD")
    assert bpbd_assignment["role"] == "primary"
    assert bpbd_assignment["rule"].startswith("fallback:")
    clock.advance(3600)
    await fire_deadlines(app)  # BPBD overdue...
    await fire_deadlines(app)  # ...and, scheduled by that change, escalated
    # The fallback itself is now late too; with no agency left to add, it escalates alone.
    later = [m for m in await drain(supervisor) if m["type"] == "assignment.escalated"]
    assert [(m["data"]["agency"], m["data"]["fallback"]) for m in later] == [("BPBD", None)]


async def test_acknowledging_just_before_the_deadline_cancels_it(
    api: Api, app: web.Application, clock: FakeClock
) -> None:
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire(priority=1))
    path = f"/api/v1/incidents/{incident['id']}/status"
    clock.advance(29.9)
    for agency in ("damkar", "dinkes"):
        assert (await api.post(path, agency, json={"status": "acknowledged"}))[0] == 200
    clock.advance(600)
    assert await fire_deadlines(app) == 0
    _, audit = await api.get(f"/api/v1/audit?incident_id={incident['id']}", "supervisor1")
    assert "assignment.overdue" not in [e["type"] for e in audit["events"]]


async def test_decline_with_a_reason_reroutes_to_the_fallback(api: Api) -> None:
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire())
    path = f"/api/v1/incidents/{incident['id']}/status"
    status, body = await api.post(path, "damkar", json={"status": "declined"})
    assert status == 422
    assert "note" in body["error"]["fields"]
    status, body = await api.post(
        path, "damkar", json={"status": "declined", "note": "all units out"}
    )
    assert status == 200
    roles = {a["agency"]: (a["role"], a["status"]) for a in body["assignments"]}
    assert roles["DAMKAR"] == ("primary", "declined")
    assert roles["BPBD"] == ("primary", "dispatched")


async def test_a_restart_in_the_middle_rebuilds_the_deadline(
    api: Api,
    server: TestServer,
    settings: Settings,
    database_url: str,
    clock: FakeClock,
    rules: RoutingTable,
) -> None:
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire(priority=1))
    await server.close()  # the process that knew the deadline is gone
    clock.advance(45)
    restarted = await create_app(settings, database_url, clock=clock, rules=rules)
    again = TestServer(restarted, host="127.0.0.1")
    await again.start_server()
    try:
        # Either this call or the restarted app's own watcher fires them; exactly once either way.
        await fire_due_deadlines(restarted[CTX])
        found = await restarted[CTX].store.get_incident(incident["id"])
        assert found is not None
        assert {a.agency: a.escalation_level for a in found.assignments} == {
            "DAMKAR": 1,
            "DINKES": 1,
        }
    finally:
        await again.close()


async def test_kpis_match_a_hand_calculation(api: Api, clock: FakeClock) -> None:
    start = clock.now
    # Three fires, each answered by telephony 5/12/25 s after ringing, dispatched 20/40/90 s
    # after answer, and acknowledged 10/20/40 s after dispatch by DAMKAR.
    for ring_to_answer, answer_to_dispatch, ack_after in ((5, 20, 10), (12, 40, 20), (25, 90, 40)):
        received = clock.now
        answered = received + timedelta(seconds=ring_to_answer)
        _, call = await api.post(
            "/api/v1/calls",
            "operator1",
            json={
                "phone": "081234500000",
                "received_at": received.isoformat(),
                "answered_at": answered.isoformat(),
            },
        )
        clock.now = answered + timedelta(seconds=answer_to_dispatch)
        body = {
            "call_id": call["id"],
            "category": "kebakaran",
            "location": {"lat": -6.12, "lon": 106.15},
        }
        _, incident = await api.post("/api/v1/incidents", "operator1", json=body)
        clock.advance(ack_after)
        await api.post(
            f"/api/v1/incidents/{incident['id']}/status", "damkar", json={"status": "acknowledged"}
        )
        clock.advance(600)
    query = f"from={start.isoformat()}&to={clock.now.isoformat()}".replace("+", "%2B")
    status, stats = await api.get(f"/api/v1/stats?{query}", "supervisor1")
    assert status == 200, stats
    # Answer: [5, 12, 25] -> P50 12, P90 25; within 15 s: 2 of 3 = 66.7%.
    assert (stats["answer"]["p50_s"], stats["answer"]["p90_s"]) == (12.0, 25.0)
    assert stats["answer"]["compliance_pct"] == 66.7
    # Processing: [20, 40, 90] -> P50 40, P90 90; within 60 s: 66.7% < 90%.
    assert (stats["processing"]["p50_s"], stats["processing"]["p90_s"]) == (40.0, 90.0)
    assert stats["processing"]["meets_target"] is False
    # DAMKAR acknowledge: [10, 20, 40]; a P1 fire must be acknowledged in 30 s: 2 of 3.
    damkar = stats["by_agency"]["DAMKAR"]["acknowledge"]
    assert (damkar["p50_s"], damkar["p90_s"], damkar["within_deadline_pct"]) == (20.0, 40.0, 66.7)
    hours = stats["outcomes_by_hour"]
    assert sum(bucket["incident"] for bucket in hours.values()) == 3
    assert next(iter(stats["outcomes_by_day"].values()))["incident"] == 3
    status, text = await api.get(f"/api/v1/stats?{query}&format=csv", "supervisor1")
    assert status == 200
    assert text.splitlines()[0] == "measure,scope,n,p50_s,p90_s,target_s,target_pct,compliance_pct"
    assert "processing,centre,3,40.0,90.0,60.0,90.0,66.7" in text


async def test_stats_names_bad_times_and_is_for_supervisors(api: Api) -> None:
    status, body = await api.get("/api/v1/stats?from=yesterday", "supervisor1")
    assert status == 422
    assert "from" in body["error"]["fields"]
    assert (await api.get("/api/v1/stats", "operator1"))[0] == 403


async def test_audit_filters_by_incident_actor_and_time_and_records_the_screen(
    api: Api, clock: FakeClock
) -> None:
    _, first = await api.post(
        "/api/v1/incidents", "operator1", json=fire(), headers={"X-Dispatch-Screen": "calltaker"}
    )
    clock.advance(60)
    middle = clock.now
    await api.post(
        f"/api/v1/incidents/{first['id']}/status",
        "damkar",
        json={"status": "acknowledged"},
        headers={"X-Dispatch-Screen": "opd"},
    )
    _, everything = await api.get(f"/api/v1/audit?incident_id={first['id']}", "supervisor1")
    assert [(e["type"], e["actor"], e["via"]) for e in everything["events"]] == [
        ("incident.opened", "operator1", "calltaker"),
        ("assignment.acknowledged", "damkar", "opd"),
    ]
    assert "incident" not in everything["events"][0]["data"]
    _, by_actor = await api.get("/api/v1/audit?actor=damkar", "admin")
    assert [e["type"] for e in by_actor["events"]] == ["assignment.acknowledged"]
    since = middle.isoformat().replace("+", "%2B")
    _, recent = await api.get(f"/api/v1/audit?from={since}", "supervisor1")
    assert [e["type"] for e in recent["events"]] == ["assignment.acknowledged"]
    assert (await api.get("/api/v1/audit", "operator1"))[0] == 403
    assert (await api.get("/api/v1/audit", "damkar"))[0] == 403
    status, body = await api.get("/api/v1/audit?incident_id=x", "supervisor1")
    assert status == 422
    assert "incident_id" in body["error"]["fields"]
