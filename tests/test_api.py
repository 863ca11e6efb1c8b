"""The HTTP API end to end on a real PostgreSQL and a real socket: success and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from dispatch.web import CTX
from tests.conftest import Api, FakeClock, fire


async def test_login_returns_a_token_with_role_and_agency(api: Api) -> None:
    status, body = await api.post(
        "/api/v1/login", json={"username": "damkar", "password": "demo112"}
    )
    assert status == 200
    assert body["role"] == "agency"
    assert body["agency"] == "DAMKAR"
    assert len(body["token"]) > 30


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"username": "damkar", "password": "wrong"}, 401, None),
        ({"username": "nobody", "password": "demo112"}, 401, None),
        ({"username": "damkar"}, 422, "password"),
        ([], 422, "body"),
    ],
)
async def test_bad_login_is_refused_with_a_reason(
    api: Api, payload: Any, status: int, field: str | None
) -> None:
    got, body = await api.post("/api/v1/login", json=payload)
    assert got == status
    assert body["error"]["message"]
    if field:
        assert field in body["error"]["fields"]


async def test_malformed_json_is_a_422_naming_the_body(api: Api) -> None:
    status, body = await api.post(
        "/api/v1/incidents",
        "operator1",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 422
    assert "body" in body["error"]["fields"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/categories",
        "/api/v1/agencies",
        "/api/v1/incidents",
        "/api/v1/incidents/1",
        "/api/v1/routing/explain?lat=-6.12&lon=106.15&category=medis",
        "/api/v1/routing/zones",
    ],
)
async def test_every_api_call_needs_a_token(api: Api, path: str) -> None:
    status, body = await api.get(path)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    status, _ = await api.get(path, headers={"Authorization": "Bearer not-a-token"})
    assert status == 401


async def test_categories_and_agencies_are_reference_data(api: Api) -> None:
    status, body = await api.get("/api/v1/categories", "operator1")
    assert status == 200
    codes = {c["code"] for c in body["categories"]}
    assert {"kebakaran", "kecelakaan", "medis", "kriminal", "banjir", "lainnya"} <= codes
    fire_category = next(c for c in body["categories"] if c["code"] == "kebakaran")
    assert fire_category["apco"]
    assert fire_category["priority"] in {1, 2, 3, 4}
    status, body = await api.get("/api/v1/agencies", "damkar")
    assert status == 200
    assert len(body["agencies"]) == 14


async def test_fire_in_the_city_is_opened_routed_and_dispatched_to_damkar(api: Api) -> None:
    status, body = await api.post(
        "/api/v1/incidents", "operator1", json=fire(description="Rumah terbakar")
    )
    assert status == 201, body
    assert body["status"] == "dispatched"
    assert body["out_of_area"] is False
    assert body["zone"]
    assert body["kecamatan"]
    primary = [a for a in body["assignments"] if a["role"] == "primary"]
    assert [a["agency"] for a in primary] == ["DAMKAR"]
    assert primary[0]["rule"] == body["rule"]
    assert body["ruleset_version"]
    assert body["calls"][0]["phone"] == "081234567890"
    assert body["seq"] >= 1

    status, got = await api.get(f"/api/v1/incidents/{body['id']}", "supervisor1")
    assert status == 200
    assert got["id"] == body["id"]
    assert [e["type"] for e in got["timeline"]] == ["incident.opened"]


async def test_point_outside_the_city_is_still_dispatched_and_flagged(api: Api) -> None:
    # Kecamatan Kragilan, Kabupaten Serang: east of the city.
    status, body = await api.post(
        "/api/v1/incidents",
        "operator1",
        json=fire(category="medis", location={"lat": -6.15, "lon": 106.30}),
    )
    assert status == 201, body
    assert body["out_of_area"] is True
    assert body["assignments"]
    assert body["handover"]


async def test_retry_with_the_same_client_ref_returns_the_same_incident(api: Api) -> None:
    first_status, first = await api.post(
        "/api/v1/incidents", "operator1", json=fire(client_ref="ct1-0001")
    )
    again_status, again = await api.post(
        "/api/v1/incidents", "operator1", json=fire(client_ref="ct1-0001")
    )
    assert (first_status, again_status) == (201, 200)
    assert again["id"] == first["id"]
    _, listing = await api.get("/api/v1/incidents?status=open", "supervisor1")
    assert [i["id"] for i in listing["incidents"]] == [first["id"]]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (fire(category="gempa_bumi"), "category"),
        (fire(location={"lat": "-6.1", "lon": 106.1}), "location.lat"),
        (fire(location=None), "location"),
        (fire(priority=9), "priority"),
        ({"category": "kebakaran", "location": {"lat": -6.12, "lon": 106.15}}, "call_id"),
    ],
)
async def test_bad_incident_names_the_field_and_creates_nothing(
    api: Api, payload: dict[str, Any], field: str
) -> None:
    status, body = await api.post("/api/v1/incidents", "operator1", json=payload)
    assert status == 422
    assert field in body["error"]["fields"]
    _, listing = await api.get("/api/v1/incidents", "supervisor1")
    assert listing["incidents"] == []


async def test_agency_cannot_open_incidents(api: Api) -> None:
    status, body = await api.post("/api/v1/incidents", "damkar", json=fire())
    assert status == 403
    assert body["error"]["code"] == "forbidden"


async def test_incident_for_an_unknown_call_is_404(api: Api) -> None:
    status, _ = await api.post("/api/v1/incidents", "operator1", json=fire(phone=None, call_id=999))
    assert status == 404


async def test_received_call_can_be_opened_as_an_incident_once(api: Api) -> None:
    status, call = await api.post("/api/v1/calls", "operator1", json={"phone": "081299990000"})
    assert status == 201, call
    body = {**fire(), "call_id": call["id"]}
    del body["phone"]
    status, incident = await api.post("/api/v1/incidents", "operator1", json=body)
    assert status == 201
    assert incident["calls"][0]["id"] == call["id"]
    status, again = await api.post("/api/v1/incidents", "operator1", json=body)
    assert status == 409
    assert again["error"]["code"] == "invalid_transition"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"phone": "abc"}, "phone"),
        ({"phone": "0812", "channel": "fax"}, "channel"),
        ({"phone": "0812", "location": {"lat": 100, "lon": 1}}, "location.lat"),
    ],
)
async def test_bad_call_names_the_field(api: Api, payload: dict[str, Any], field: str) -> None:
    status, body = await api.post("/api/v1/calls", "operator1", json=payload)
    assert status == 422
    assert field in body["error"]["fields"]


async def test_agency_moves_its_assignment_through_the_states(api: Api) -> None:
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire())
    path = f"/api/v1/incidents/{incident['id']}/status"
    for step in ("acknowledged", "en_route", "on_scene"):
        status, body = await api.post(path, "damkar", json={"status": step, "note": f"step {step}"})
        assert status == 200, body
        assert body["status"] == step
    status, body = await api.post(path, "damkar", json={"status": "acknowledged"})
    assert status == 409
    assert body["error"]["code"] == "invalid_transition"


async def test_incident_closes_when_every_agency_is_done(api: Api) -> None:
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire())
    path = f"/api/v1/incidents/{incident['id']}/status"
    agencies = [a["agency"].lower() for a in incident["assignments"]]
    for agency in agencies:
        assert (await api.post(path, agency, json={"status": "acknowledged"}))[0] == 200
    for agency in agencies:
        status, body = await api.post(path, agency, json={"status": "resolved"})
        assert status == 200
    assert body["status"] == "closed"
    assert body["close_reason"] == "resolved"
    _, listing = await api.get("/api/v1/incidents?status=open", "supervisor1")
    assert listing["incidents"] == []


async def test_status_with_a_bad_value_names_the_field(api: Api) -> None:
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire())
    status, body = await api.post(
        f"/api/v1/incidents/{incident['id']}/status", "damkar", json={"status": "done"}
    )
    assert status == 422
    assert "status" in body["error"]["fields"]


async def test_status_of_a_missing_incident_is_404(api: Api) -> None:
    status, _ = await api.post(
        "/api/v1/incidents/424242/status", "damkar", json={"status": "acknowledged"}
    )
    assert status == 404


async def test_non_numeric_incident_id_is_bad_input(api: Api) -> None:
    status, body = await api.get("/api/v1/incidents/abc", "supervisor1")
    assert status == 422
    assert "id" in body["error"]["fields"]


async def test_routing_explain_creates_nothing(api: Api) -> None:
    status, body = await api.get(
        "/api/v1/routing/explain?lat=-6.12&lon=106.15&category=kebakaran", "operator1"
    )
    assert status == 200
    assert body["rule"]
    assert body["agencies"][0]["agency"] == "DAMKAR"
    _, listing = await api.get("/api/v1/incidents", "supervisor1")
    assert listing["incidents"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("lat=x&lon=106.15&category=medis", "lat"),
        ("lat=-6.1&lon=106.15&category=nope", "category"),
        ("lon=106.15&category=medis", "lat"),
    ],
)
async def test_routing_explain_names_bad_fields(api: Api, query: str, field: str) -> None:
    status, body = await api.get(f"/api/v1/routing/explain?{query}", "operator1")
    assert status == 422
    assert field in body["error"]["fields"]


async def test_health_ready_and_metrics_answer(api: Api) -> None:
    assert (await api.get("/healthz"))[0] == 200
    status, body = await api.get("/readyz")
    assert status == 200
    assert body["rules_version"]
    await api.post("/api/v1/incidents", "operator1", json=fire())
    status, text = await api.get("/metrics")
    assert status == 200
    assert 'dispatch_intake_total{category="kebakaran",outcome="incident"} 1.0' in text
    assert "dispatch_intake_to_commit_seconds_bucket" in text


async def test_unknown_path_is_a_json_404(api: Api) -> None:
    status, body = await api.get("/api/v1/nothing-here", "operator1")
    assert status == 404
    assert body["error"]["code"] == "http_error"


async def test_openapi_document_lists_every_api_route(api: Api, app: web.Application) -> None:
    status, doc = await api.get("/api/v1/openapi.json")
    assert status == 200
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.method in {"GET", "POST"}
        and (
            route.resource.canonical.startswith("/api/")
            or route.resource.canonical in {"/metrics", "/healthz", "/readyz"}
        )
    }
    assert served == documented


async def test_database_away_is_a_503_that_names_no_500(api: Api, app: web.Application) -> None:
    token = await api.token("operator1")
    await app[CTX].store.pool.close()
    status, body = await api.post(
        "/api/v1/incidents", json=fire(), headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 503
    assert body["error"]["code"] == "unavailable"
    status, _ = await api.get("/readyz")
    assert status == 503


async def test_an_expired_token_is_refused_even_after_recent_use(
    api: Api, clock: FakeClock
) -> None:
    assert (await api.get("/api/v1/categories", "operator1"))[0] == 200
    clock.advance(12 * 3600 + 1)  # the token lifetime (DISPATCH_TOKEN_TTL_S) has passed
    status, body = await api.get("/api/v1/categories", "operator1")
    assert status == 401
    assert "expired" in body["error"]["message"]
