"""Prank, ghost and duplicate screening through the API, on the real database."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from dispatch.web import CTX
from tests.conftest import Api, FakeClock, drain, fire

PRANKSTER = "081200000666"


def metres_north(lat: float, metres: float) -> float:
    return lat + metres / 110_600  # metres per degree of latitude near 6 deg S


async def prank_calls(api: Api, clock: FakeClock, phone: str, n: int) -> None:
    for _ in range(n):
        status, call = await api.post("/api/v1/calls", "operator1", json={"phone": phone})
        assert status == 201
        status, _ = await api.post(
            f"/api/v1/calls/{call['id']}/outcome", "operator1", json={"outcome": "prank"}
        )
        assert status == 200
        clock.advance(600)


async def test_number_with_six_pranks_today_is_shown_blocked_with_reasons(
    api: Api, clock: FakeClock
) -> None:
    await prank_calls(api, clock, PRANKSTER, 6)
    status, call = await api.post("/api/v1/calls", "operator1", json={"phone": PRANKSTER})
    assert status == 201  # still recorded and answerable
    verdict = call["screening"]
    assert verdict["blocked"] is True
    assert verdict["blocked_until"]
    assert verdict["prank_score"] > 0.8
    assert any("6" in reason for reason in verdict["reasons"])
    assert [h["outcome"] for h in call["history"]] == ["prank"] * 6


async def test_five_pranks_do_not_block_yet(api: Api, clock: FakeClock) -> None:
    await prank_calls(api, clock, PRANKSTER, 5)
    _, call = await api.post("/api/v1/calls", "operator1", json={"phone": PRANKSTER})
    assert call["screening"]["blocked"] is False


async def test_fresh_number_scores_low(api: Api) -> None:
    _, call = await api.post("/api/v1/calls", "operator1", json={"phone": "081311112222"})
    assert call["screening"]["prank_score"] < 0.2
    assert call["screening"]["blocked"] is False
    assert call["history"] == []


async def test_supervisor_unblocks_with_reason_in_the_audit_trail(
    api: Api, clock: FakeClock
) -> None:
    await prank_calls(api, clock, PRANKSTER, 6)
    supervisor = await api.stream("supervisor1")
    status, body = await api.post(
        f"/api/v1/numbers/{PRANKSTER}/unblock",
        "supervisor1",
        json={"reason": "parent called, child's phone"},
    )
    assert status == 200
    assert body["screening"]["blocked"] is False
    assert body["block"]["actor"] == "supervisor1"
    events = await drain(supervisor)
    assert (events[-1]["type"], events[-1]["actor"]) == ("number.unblocked", "supervisor1")
    assert events[-1]["data"]["reason"] == "parent called, child's phone"


async def test_supervisor_block_shows_on_the_next_call_which_is_still_recorded(api: Api) -> None:
    status, _ = await api.post(
        f"/api/v1/numbers/{PRANKSTER}/block", "supervisor1", json={"reason": "abusive"}
    )
    assert status == 200
    status, call = await api.post("/api/v1/calls", "operator1", json={"phone": PRANKSTER})
    assert status == 201
    assert call["screening"]["blocked"] is True
    assert any("abusive" in r for r in call["screening"]["reasons"])


async def test_blocking_needs_a_supervisor_and_a_reason(api: Api) -> None:
    status, _ = await api.post(
        f"/api/v1/numbers/{PRANKSTER}/block", "operator1", json={"reason": "x"}
    )
    assert status == 403
    status, body = await api.post(f"/api/v1/numbers/{PRANKSTER}/block", "supervisor1", json={})
    assert status == 422
    assert "reason" in body["error"]["fields"]


async def test_agency_cannot_read_calls_or_callers(api: Api) -> None:
    _, call = await api.post("/api/v1/calls", "operator1", json={"phone": PRANKSTER})
    assert (await api.get(f"/api/v1/calls/{call['id']}", "damkar"))[0] == 403
    assert (await api.get(f"/api/v1/numbers/{PRANKSTER}", "damkar"))[0] == 403
    assert (await api.get("/api/v1/calls?pending=1", "damkar"))[0] == 403


async def test_call_outcome_closes_once_and_names_bad_fields(api: Api) -> None:
    _, call = await api.post("/api/v1/calls", "operator1", json={"phone": "0812"})
    path = f"/api/v1/calls/{call['id']}/outcome"
    status, body = await api.post(path, "operator1", json={"outcome": "lol"})
    assert status == 422
    assert "outcome" in body["error"]["fields"]
    _, pending = await api.get("/api/v1/calls?pending=1", "operator1")
    assert [c["id"] for c in pending["calls"]] == [call["id"]]
    status, closed = await api.post(
        path, "operator1", json={"outcome": "info", "note": "asked for a phone number"}
    )
    assert status == 200
    assert closed["outcome"] == "info"
    assert (await api.post(path, "operator1", json={"outcome": "prank"}))[0] == 409
    _, pending = await api.get("/api/v1/calls?pending=1", "operator1")
    assert pending["calls"] == []


async def test_silent_call_goes_to_the_callback_list_until_reached(api: Api) -> None:
    _, call = await api.post("/api/v1/calls", "operator1", json={"phone": "081355554444"})
    await api.post(f"/api/v1/calls/{call['id']}/outcome", "operator1", json={"outcome": "ghost"})
    _, listing = await api.get("/api/v1/callbacks", "operator1")
    assert [c["call_id"] for c in listing["callbacks"]] == [call["id"]]
    status, _ = await api.post(
        f"/api/v1/calls/{call['id']}/callback", "operator1", json={"result": "no_answer"}
    )
    assert status == 201
    _, listing = await api.get("/api/v1/callbacks", "operator1")
    assert [a["result"] for a in listing["callbacks"][0]["attempts"]] == ["no_answer"]
    await api.post(
        f"/api/v1/calls/{call['id']}/callback",
        "operator1",
        json={"result": "reached", "note": "pocket dial"},
    )
    _, listing = await api.get("/api/v1/callbacks", "operator1")
    assert listing["callbacks"] == []


async def test_callback_of_a_call_that_was_not_silent_is_refused(api: Api) -> None:
    _, call = await api.post("/api/v1/calls", "operator1", json={"phone": "0812"})
    status, _ = await api.post(
        f"/api/v1/calls/{call['id']}/callback", "operator1", json={"result": "reached"}
    )
    assert status == 409


async def nearby(
    api: Api, lat: float, lon: float, category: str, **extra: Any
) -> list[dict[str, Any]]:
    query = f"lat={lat}&lon={lon}&category={category}" + "".join(
        f"&{k}={v}" for k, v in extra.items()
    )
    status, body = await api.get(f"/api/v1/incidents/nearby?{query}", "operator1")
    assert status == 200, body
    return list(body["candidates"])


async def test_call_50_m_from_an_open_fire_is_offered_it_and_3_km_away_is_not(api: Api) -> None:
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire())
    close_by = await nearby(api, metres_north(-6.12, 50), 106.15, "kebakaran")
    assert [c["incident_id"] for c in close_by] == [incident["id"]]
    assert close_by[0]["reasons"]
    assert math.isclose(close_by[0]["distance_m"], 50, abs_tol=3)
    assert await nearby(api, metres_north(-6.12, 3000), 106.15, "kebakaran") == []


async def test_location_accuracy_widens_the_duplicate_radius(
    api: Api, app: web.Application
) -> None:
    radius = app[CTX].rules.categories["kebakaran"].duplicate_radius_m
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire())
    lat = metres_north(-6.12, radius + 150)
    assert await nearby(api, lat, 106.15, "kebakaran") == []
    widened = await nearby(api, lat, 106.15, "kebakaran", accuracy_m=300)
    assert [c["incident_id"] for c in widened] == [incident["id"]]


async def test_nearby_names_bad_fields(api: Api) -> None:
    status, body = await api.get(
        "/api/v1/incidents/nearby?lat=-6.1&lon=abc&category=zzz", "operator1"
    )
    assert status == 422
    assert {"lon", "category"} <= set(body["error"]["fields"])


async def test_attached_caller_notifies_only_the_assigned_agencies_and_dispatches_nothing(
    api: Api,
) -> None:
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire())
    damkar, polresta = await api.stream("damkar"), await api.stream("polresta")
    await drain(damkar)
    _, call = await api.post("/api/v1/calls", "operator1", json={"phone": "081377778888"})
    status, body = await api.post(
        f"/api/v1/incidents/{incident['id']}/calls", "operator1", json={"call_id": call["id"]}
    )
    assert status == 200
    assert [c["phone"] for c in body["calls"]] == ["081234567890", "081377778888"]
    assert len(body["assignments"]) == len(incident["assignments"])
    got = await drain(damkar)
    assert [m["type"] for m in got] == ["call.linked"]
    assert await drain(polresta) == []
    status, again = await api.post(
        f"/api/v1/incidents/{incident['id']}/calls", "operator1", json={"call_id": call["id"]}
    )
    assert again["error"]["code"] == "invalid_transition"
    assert status == 409


async def test_supervisor_undoes_a_link_and_the_call_is_open_again(api: Api) -> None:
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire())
    _, call = await api.post("/api/v1/calls", "operator1", json={"phone": "081377778888"})
    await api.post(
        f"/api/v1/incidents/{incident['id']}/calls", "operator1", json={"call_id": call["id"]}
    )
    path = f"/api/v1/incidents/{incident['id']}/calls/{call['id']}/unlink"
    assert (await api.post(path, "operator1"))[0] == 403
    status, body = await api.post(path, "supervisor1")
    assert status == 200
    assert [c["id"] for c in body["calls"]] == [incident["calls"][0]["id"]]
    _, pending = await api.get("/api/v1/calls?pending=1", "operator1")
    assert [c["id"] for c in pending["calls"]] == [call["id"]]


async def test_merge_moves_calls_and_agencies_and_keeps_both_timelines(api: Api) -> None:
    _, kept = await api.post("/api/v1/incidents", "operator1", json=fire())
    _, replaced = await api.post(
        "/api/v1/incidents", "operator1", json=fire(category="penyelamatan", phone="081399990000")
    )
    status, merged = await api.post(
        f"/api/v1/incidents/{replaced['id']}/merge", "supervisor1", json={"into": kept["id"]}
    )
    assert status == 200, merged
    assert merged["id"] == kept["id"]
    assert {c["phone"] for c in merged["calls"]} == {"081234567890", "081399990000"}
    kept_agencies = {a["agency"] for a in kept["assignments"]}
    moved = {a["agency"] for a in replaced["assignments"]} - kept_agencies
    assert {a["agency"] for a in merged["assignments"]} == kept_agencies | moved
    _, old = await api.get(f"/api/v1/incidents/{replaced['id']}", "supervisor1")
    assert old["status"] == "closed"
    assert old["close_reason"] == "duplicate"
    assert old["merged_into"] == kept["id"]
    assert [e["type"] for e in old["timeline"]] == ["incident.opened", "incident.merged"]
    _, new = await api.get(f"/api/v1/incidents/{kept['id']}", "supervisor1")
    assert [e["type"] for e in new["timeline"]] == ["incident.opened", "incident.merged"]
    assert new["timeline"][1]["data"]["replaces"] == replaced["id"]


async def test_merge_into_itself_or_by_a_call_taker_is_refused(api: Api) -> None:
    _, a = await api.post("/api/v1/incidents", "operator1", json=fire())
    status, body = await api.post(
        f"/api/v1/incidents/{a['id']}/merge", "supervisor1", json={"into": a["id"]}
    )
    assert status == 422
    assert "into" in body["error"]["fields"]
    assert (await api.post(f"/api/v1/incidents/{a['id']}/merge", "operator1", json={"into": 99}))[
        0
    ] == 403


async def test_burst_of_50_flood_calls_following_suggestions_ends_as_one_incident(
    api: Api, clock: FakeClock
) -> None:
    base_lat, base_lon = -6.0600, 106.2000  # Kasemen
    opened: list[int] = []
    for n in range(50):
        lat = base_lat + (n % 7 - 3) * 0.0004
        lon = base_lon + (n % 5 - 2) * 0.0004
        _, call = await api.post(
            "/api/v1/calls",
            "operator1",
            json={"phone": f"08130000{n:04d}", "location": {"lat": lat, "lon": lon}},
        )
        candidates = await nearby(api, lat, lon, "banjir")
        if candidates:
            status, _ = await api.post(
                f"/api/v1/incidents/{candidates[0]['incident_id']}/calls",
                "operator1",
                json={"call_id": call["id"]},
            )
            assert status == 200
        else:
            status, incident = await api.post(
                "/api/v1/incidents",
                "operator1",
                json={
                    "call_id": call["id"],
                    "category": "banjir",
                    "location": {"lat": lat, "lon": lon},
                },
            )
            assert status == 201
            opened.append(incident["id"])
        clock.advance(6)  # 50 calls in 5 minutes
    assert len(opened) == 1
    _, incident = await api.get(f"/api/v1/incidents/{opened[0]}", "supervisor1")
    assert len(incident["calls"]) == 50
    agencies = [a["agency"] for a in incident["assignments"]]
    assert len(agencies) == len(set(agencies))
    opened_events = [e for e in incident["timeline"] if e["type"] == "incident.opened"]
    assert len(opened_events) == 1


async def test_supervisor_adds_and_cancels_an_agency_and_closes_with_a_reason(api: Api) -> None:
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire())
    path = f"/api/v1/incidents/{incident['id']}"
    polresta = await api.stream("polresta")
    status, body = await api.post(
        f"{path}/assignments", "supervisor1", json={"agency": "POLRESTA", "role": "support"}
    )
    assert status == 201
    assert "POLRESTA" in [a["agency"] for a in body["assignments"]]
    assert [m["type"] for m in await drain(polresta)] == ["assignment.created"]
    status, body = await api.post(
        f"{path}/assignments", "supervisor1", json={"agency": "NOPE", "role": "support"}
    )
    assert status == 422
    status, body = await api.post(
        f"{path}/assignments/POLRESTA/cancel", "supervisor1", json={"reason": "not needed"}
    )
    assert status == 200
    assert (
        next(a for a in body["assignments"] if a["agency"] == "POLRESTA")["status"] == "cancelled"
    )
    assert [m["type"] for m in await drain(polresta)] == ["assignment.cancelled"]
    status, body = await api.post(f"{path}/close", "supervisor1", json={"reason": "unfounded"})
    assert status == 200
    assert body["status"] == "closed"
    assert body["close_reason"] == "unfounded"
    assert all(a["status"] in {"cancelled", "resolved", "declined"} for a in body["assignments"])
    assert (await api.post(f"{path}/close", "supervisor1", json={"reason": "resolved"}))[0] == 409
