"""The HTTP and WebSocket edge: parse requests, call ``actions``, dump JSON, map errors.

Handlers hold no domain logic and no SQL. Every error leaves as JSON
``{"error": {"code", "message", "fields"?}}`` with its status; bad input is never a 500.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from aiohttp import web

from dispatch import actions, routing
from dispatch.hub import Resync, Subscriber
from dispatch.incidents import (
    JSON,
    BadInput,
    DomainError,
    Forbidden,
    InvalidTransition,
    JSONObject,
    NotFound,
    Unauthorized,
    User,
    dump_call,
    dump_event,
    dump_incident,
    parse_callback,
    parse_close,
    parse_credentials,
    parse_id_field,
    parse_intake,
    parse_location,
    parse_new_assignment,
    parse_new_call,
    parse_outcome,
    parse_phone,
    parse_reason,
    parse_status_change,
    parse_time,
    redact_incident,
)
from dispatch.store import UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)

CTX = web.AppKey("ctx", actions.Ctx)
OPENAPI = web.AppKey("openapi", bytes)
# Open stream sockets, so that shutdown can close them instead of waiting on them.
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("sockets")

# Close code for "you fell behind: reconnect with ?after=<last seq>" (4000-4999 are private).
RESYNC_CLOSE = 4001
TRY_AGAIN_CLOSE = 1013  # RFC 6455 registry: "Try Again Later"
# Pings keep NAT/proxies open and find dead screens within ~2 heartbeats.
HEARTBEAT_S = 20.0
MAX_BODY = 64 * 1024

_STATUS: dict[type[DomainError], int] = {
    BadInput: 422,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    InvalidTransition: 409,
    actions.Unavailable: 503,
}


def json_response(body: JSON, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error_response(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> web.Response:
    error: JSONObject = {"code": code, "message": message}
    if fields:
        error["fields"] = dict(fields)
    return json_response({"error": error}, status)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadInput as exc:
        return error_response(422, exc.code, exc.message, exc.fields)
    except actions.RulesRefused as exc:
        problems: list[JSON] = list(exc.problems)
        error: JSONObject = {"code": exc.code, "message": exc.message, "problems": problems}
        return json_response({"error": error}, 422)
    except DomainError as exc:
        return error_response(_STATUS.get(type(exc), 400), exc.code, exc.message)
    except UNAVAILABLE_ERRORS:
        # A read that found the database away: nothing was changed, the client may retry.
        ctx_of(request).metrics.db_unavailable.inc()
        return error_response(503, "unavailable", "the database is unavailable; please retry")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, "http_error", exc.reason)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(
            500, "internal", "internal error; nothing was changed by this request"
        )


def ctx_of(request: web.Request) -> actions.Ctx:
    return request.app[CTX]


async def read_json(request: web.Request) -> JSON:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BadInput({"body": f"must be at most {MAX_BODY} bytes"})
    raw = await request.read()
    try:
        body: JSON = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadInput({"body": f"not valid JSON: {exc}"}) from None
    return body


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return None


# Screens name themselves so that the audit trail says where each change was made.
SCREENS = frozenset({"calltaker", "supervisor", "opd", "sim", "api"})


async def current_user(request: web.Request) -> User:
    user = await actions.authenticate(ctx_of(request), bearer(request))
    screen = request.headers.get("X-Dispatch-Screen", "api")
    return replace(user, via=screen if screen in SCREENS else "api")


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise BadInput({name: "must be a positive integer"})
    return int(raw)


# --- handlers ------------------------------------------------------------------------------


async def post_login(request: web.Request) -> web.Response:
    username, password = parse_credentials(await read_json(request))
    token, user = await actions.login(ctx_of(request), username, password)
    return json_response(
        {"token": token, "role": user.role.value, "agency": user.agency, "username": user.username}
    )


async def get_categories(request: web.Request) -> web.Response:
    await current_user(request)
    rules = ctx_of(request).rules
    return json_response({"categories": [dump_category(c) for c in rules.categories.values()]})


async def get_agencies(request: web.Request) -> web.Response:
    await current_user(request)
    rules = ctx_of(request).rules
    return json_response({"agencies": [dump_agency(a) for a in rules.agencies.values()]})


def dump_category(c: routing.Category) -> JSONObject:
    return {
        "code": c.code,
        "name": {"id": c.name_id, "en": c.name_en},
        "apco": c.apco,
        "priority": c.priority,
        "duplicate_radius_m": c.duplicate_radius_m,
        "duplicate_window_s": c.duplicate_window_s,
        "compatible_with": [code for code in sorted(c.compatible_with)],
    }


def dump_agency(a: routing.Agency) -> JSONObject:
    return {
        "code": a.code,
        "name": {"id": a.name_id, "en": a.name_en},
        "kind": a.kind,
        "channel": a.channel,
        "posts": [
            {
                "id": p.id,
                "name": p.name,
                "kelurahan": p.kelurahan,
                "lat": p.lat,
                "lon": p.lon,
                "coord_source": p.coord_source,
            }
            for p in a.posts
        ],
        "units": [
            {"id": u.id, "type": u.type, "post": u.post, "capacity": u.capacity} for u in a.units
        ],
    }


async def post_call(request: web.Request) -> web.Response:
    user = await current_user(request)
    call = parse_new_call(await read_json(request))
    record, view = await actions.receive_call(ctx_of(request), call, user)
    body = dump_call(record)
    body["history"] = actions.dump_history(view.history)
    return json_response(body, 201)


async def get_call(request: web.Request) -> web.Response:
    user = await current_user(request)
    call, view = await actions.get_call(ctx_of(request), path_id(request), user)
    body = dump_call(call)
    body["history"] = actions.dump_history(view.history)
    return json_response(body)


async def list_calls(request: web.Request) -> web.Response:
    user = await current_user(request)
    if request.query.get("pending") not in {"1", "true"}:
        raise BadInput({"pending": "only pending=1 (calls without an outcome) is supported"})
    calls = await actions.pending_calls(ctx_of(request), user)
    return json_response({"calls": [dump_call(c) for c in calls]})


async def post_call_outcome(request: web.Request) -> web.Response:
    user = await current_user(request)
    outcome, note = parse_outcome(await read_json(request))
    call = await actions.close_call(ctx_of(request), path_id(request), outcome, note, user)
    return json_response(dump_call(call))


async def get_callbacks(request: web.Request) -> web.Response:
    user = await current_user(request)
    callbacks = await actions.callbacks(ctx_of(request), user)
    return json_response({"callbacks": list[JSON](callbacks)})


async def post_callback(request: web.Request) -> web.Response:
    user = await current_user(request)
    result, note = parse_callback(await read_json(request))
    await actions.record_callback(ctx_of(request), path_id(request), result, note, user)
    return json_response({"call_id": path_id(request), "result": result}, 201)


def phone_of(request: web.Request) -> str:
    errors: dict[str, str] = {}
    phone = parse_phone(request.match_info["phone"], errors)
    if phone is None:
        raise BadInput(errors)
    return phone


def dump_caller(phone: str, view: actions.CallerView) -> JSONObject:
    state = view.state
    return {
        "phone": phone,
        "screening": actions.dump_screening(view.screening),
        "history": actions.dump_history(view.history, limit=50),
        "block": {
            "action": state.latest_action,
            "reason": state.latest_reason,
            "actor": state.latest_actor,
            "at": state.latest_at.isoformat() if state.latest_at else None,
        },
    }


async def get_number(request: web.Request) -> web.Response:
    user = await current_user(request)
    phone = phone_of(request)
    return json_response(dump_caller(phone, await actions.caller(ctx_of(request), phone, user)))


async def post_block(request: web.Request) -> web.Response:
    user = await current_user(request)
    reason = parse_reason(await read_json(request))
    phone = phone_of(request)
    blocked = request.path.endswith("/block")
    view = await actions.set_block(ctx_of(request), phone, blocked, reason, user)
    return json_response(dump_caller(phone, view))


async def get_nearby(request: web.Request) -> web.Response:
    user = await current_user(request)
    ctx = ctx_of(request)
    q = request.query
    errors: dict[str, str] = {}
    raw = {"lat": _float(q.get("lat")), "lon": _float(q.get("lon"))}
    if q.get("accuracy_m"):
        raw["accuracy_m"] = _float(q.get("accuracy_m"))
    location = parse_location(raw, errors)
    category = q.get("category", "")
    if category not in ctx.rules.categories:
        errors["category"] = "unknown category (see GET /api/v1/categories)"
    phone = parse_phone(q["phone"], errors) if q.get("phone") else None
    if errors or location is None:
        raise BadInput({k.removeprefix("location."): v for k, v in errors.items()})
    rows: list[JSON] = [
        {
            "incident_id": c.incident_id,
            "distance_m": round(c.distance_m, 1),
            "age_s": round(c.age_s),
            "score": c.score,
            "reasons": list(c.reasons),
            "category": incident_category,
        }
        for c, incident_category in actions.nearby(ctx, location, category, phone, user)
    ]
    return json_response({"candidates": rows})


async def post_attach(request: web.Request) -> web.Response:
    user = await current_user(request)
    call_id = parse_id_field(await read_json(request), "call_id")
    incident = await actions.attach_call(ctx_of(request), path_id(request), call_id, user)
    return json_response(dump_incident(incident))


async def post_unlink(request: web.Request) -> web.Response:
    user = await current_user(request)
    call_id = path_id(request, "call_id")
    incident = await actions.unlink_call(ctx_of(request), path_id(request), call_id, user)
    return json_response(dump_incident(incident))


async def post_merge(request: web.Request) -> web.Response:
    user = await current_user(request)
    into = parse_id_field(await read_json(request), "into")
    incident = await actions.merge_incidents(ctx_of(request), path_id(request), into, user)
    return json_response(dump_incident(incident))


async def post_close(request: web.Request) -> web.Response:
    user = await current_user(request)
    reason, note = parse_close(await read_json(request))
    incident = await actions.close_incident(ctx_of(request), path_id(request), reason, note, user)
    return json_response(dump_incident(incident))


async def post_assignment(request: web.Request) -> web.Response:
    user = await current_user(request)
    ctx = ctx_of(request)
    agency, role = parse_new_assignment(await read_json(request), ctx.rules.agencies)
    incident = await actions.add_assignment(ctx, path_id(request), agency, role, user)
    return json_response(dump_incident(incident), 201)


async def post_cancel_assignment(request: web.Request) -> web.Response:
    user = await current_user(request)
    body = await read_json(request)
    note = parse_reason(body) if isinstance(body, dict) and body.get("reason") else None
    agency = request.match_info["agency"]
    incident = await actions.cancel_assignment(
        ctx_of(request), path_id(request), agency, note, user
    )
    return json_response(dump_incident(incident))


async def post_incident(request: web.Request) -> web.Response:
    user = await current_user(request)
    ctx = ctx_of(request)
    intake = parse_intake(await read_json(request), ctx.rules.categories)
    result = await actions.submit_incident(ctx, intake, user)
    body = {**result.view, "seq": result.seq}
    return json_response(body, 201 if result.created else 200)


async def get_incident(request: web.Request) -> web.Response:
    user = await current_user(request)
    ctx = ctx_of(request)
    incident, events = await actions.get_incident(ctx, path_id(request), user)
    body = dump_incident(incident)
    agency = None if user.is_centre else user.agency
    body["timeline"] = [
        {k: v for k, v in dump_event(e, agency).items() if k != "data"} | {"data": _brief(e.data)}
        for e in events
    ]
    if agency is not None:
        body = redact_incident(body, agency)
    return json_response(body)


def _brief(data: JSONObject) -> JSONObject:
    """Timeline entries carry what changed, not the whole incident snapshot again."""
    return {k: v for k, v in data.items() if k != "incident"}


async def list_incidents(request: web.Request) -> web.Response:
    user = await current_user(request)
    status = request.query.get("status", "open")
    if status != "open":
        raise BadInput({"status": "only status=open is supported"})
    incidents, last_seq = await actions.list_open(ctx_of(request), user)
    agency = None if user.is_centre else user.agency
    rows: list[JSON] = [
        dump_incident(i) if agency is None else redact_incident(dump_incident(i), agency)
        for i in incidents
    ]
    return json_response({"incidents": rows, "last_seq": last_seq})


async def post_status(request: web.Request) -> web.Response:
    user = await current_user(request)
    body = await read_json(request)
    change = parse_status_change(body)
    agency = body.get("agency") if isinstance(body, dict) else None
    if not user.is_centre:
        agency = user.agency
    elif not isinstance(agency, str):
        raise BadInput({"agency": "a supervisor must name the agency whose assignment changes"})
    incident = await actions.change_status(ctx_of(request), path_id(request), change, user, agency)
    out = dump_incident(incident)
    if not user.is_centre and user.agency:
        out = redact_incident(out, user.agency)
    return json_response(out)


async def get_explain(request: web.Request) -> web.Response:
    await current_user(request)
    ctx = ctx_of(request)
    q = request.query
    errors: dict[str, str] = {}
    location = parse_location(
        {"lat": _float(q.get("lat")), "lon": _float(q.get("lon"))}, errors, name="location"
    )
    category = q.get("category", "")
    if category not in ctx.rules.categories:
        errors["category"] = "unknown category (see GET /api/v1/categories)"
    if errors or location is None:
        raise BadInput({k.removeprefix("location."): v for k, v in errors.items()})
    route = actions.explain_route(ctx, location, category)
    return json_response(routing.dump_route(route))


def _float(raw: str | None) -> JSON:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


async def get_zones(request: web.Request) -> web.Response:
    await current_user(request)
    return json_response(ctx_of(request).rules.zones_geojson())  # type: ignore[arg-type]


async def stream(request: web.Request) -> web.WebSocketResponse:
    """WS /api/v1/stream?after=<seq>: replay from the log, then live; scoped by the login."""
    ctx = ctx_of(request)
    user = await actions.authenticate(ctx, bearer(request) or request.query.get("token"))
    raw_after = request.query.get("after", "0")
    if not raw_after.isdigit():
        raise BadInput({"after": "must be a whole number (the last seq the screen has)"})
    after = int(raw_after)
    agency = None if user.is_centre else user.agency
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=4096)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    # Register before replaying, so nothing committed meanwhile falls between the two.
    sub = ctx.hub.subscribe(agency)
    ctx.metrics.sockets.inc()
    sender = asyncio.create_task(_send(ctx, ws, sub, after, agency))
    try:
        async for _msg in ws:  # screens only listen; reading keeps pings and close working
            pass
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        ctx.hub.unsubscribe(sub)
        request.app[SOCKETS].discard(ws)
        ctx.metrics.sockets.dec()
    return ws


async def _send(
    ctx: actions.Ctx, ws: web.WebSocketResponse, sub: Subscriber, after: int, agency: str | None
) -> None:
    try:
        async for delivery in ctx.hub.follow(sub, after, ctx.store.list_events_after):
            await ws.send_bytes(orjson.dumps(dump_event(delivery.event, agency)))
            if delivery.committed_at is not None:
                ctx.metrics.commit_to_push.observe(time.perf_counter() - delivery.committed_at)
    except Resync:
        ctx.metrics.resyncs.inc()
        await ws.close(code=RESYNC_CLOSE, message=b"resync")
    except UNAVAILABLE_ERRORS:
        # The replay could not read the log: "try again later", and the screen resumes.
        ctx.metrics.db_unavailable.inc()
        await ws.close(code=TRY_AGAIN_CLOSE, message=b"database unavailable")
    except ConnectionResetError:
        pass


def _time_range(request: web.Request) -> tuple[datetime | None, datetime | None]:
    """``from``/``to`` query values (ISO 8601 with an offset), each optional."""
    errors: dict[str, str] = {}
    start = parse_time(request.query["from"], errors, "from") if "from" in request.query else None
    end = parse_time(request.query["to"], errors, "to") if "to" in request.query else None
    if start is not None and end is not None and start >= end:
        errors["from"] = "must be before to"
    if errors:
        raise BadInput(errors)
    return start, end


async def get_stats(request: web.Request) -> web.StreamResponse:
    user = await current_user(request)
    start, end = _time_range(request)
    end = end or ctx_of(request).clock()
    # By default the last day: the supervisor's shift view.
    start = start or end - timedelta(hours=24)
    if start >= end:
        raise BadInput({"from": "must be before to"})
    report = await actions.stats(ctx_of(request), start, end, user)
    if request.query.get("format") == "csv":
        return web.Response(
            text=stats_csv(report),
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="dispatch-kpis.csv"'},
        )
    return json_response(report)


def stats_csv(report: JSONObject) -> str:
    """One row per measure and scope: the report flattened for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ["n", "p50_s", "p90_s", "target_s", "target_pct", "compliance_pct"]
    writer.writerow(["measure", "scope", *columns])

    def rows(scope: str, section: JSON) -> None:
        if not isinstance(section, dict):
            return
        for measure, values in section.items():
            if isinstance(values, dict) and "n" in values:
                writer.writerow([measure, scope, *(values.get(c, "") for c in columns)])

    rows("centre", report)
    for group in ("by_agency", "by_category"):
        section = report.get(group)
        if isinstance(section, dict):
            for scope, values in section.items():
                rows(scope, values)
    return out.getvalue()


async def get_audit(request: web.Request) -> web.Response:
    user = await current_user(request)
    q = request.query
    errors: dict[str, str] = {}
    incident_id = None
    if "incident_id" in q:
        if not q["incident_id"].isdigit():
            errors["incident_id"] = "must be a positive integer"
        else:
            incident_id = int(q["incident_id"])
    limit = 1000
    if "limit" in q:
        if not q["limit"].isdigit() or not 1 <= int(q["limit"]) <= 10_000:
            errors["limit"] = "must be 1 to 10000"
        else:
            limit = int(q["limit"])
    if errors:
        raise BadInput(errors)
    start, end = _time_range(request)
    events = await actions.audit(
        ctx_of(request),
        user,
        incident_id=incident_id,
        actor=q.get("actor"),
        start=start,
        end=end,
        limit=limit,
    )
    return json_response({"events": [dump_event(e) for e in events]})


async def post_rules_reload(request: web.Request) -> web.Response:
    user = await current_user(request)
    previous, version = await actions.reload_rules(ctx_of(request), user)
    return json_response({"previous_version": previous, "version": version})


async def get_deadlines(request: web.Request) -> web.Response:
    await current_user(request)
    return json_response(ctx_of(request).deadlines.policy.dump())


async def get_metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=ctx_of(request).metrics.render(), content_type="text/plain", charset="utf-8"
    )


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    try:
        await ctx.store.ping()
    except Exception as exc:
        return error_response(503, "unavailable", f"database not reachable: {type(exc).__name__}")
    return json_response({"status": "ready", "rules_version": ctx.rules.version})


async def get_openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/login", post_login)
    app.router.add_get("/api/v1/categories", get_categories)
    app.router.add_get("/api/v1/agencies", get_agencies)
    app.router.add_post("/api/v1/calls", post_call)
    app.router.add_get("/api/v1/calls", list_calls)
    app.router.add_get("/api/v1/calls/{id}", get_call)
    app.router.add_post("/api/v1/calls/{id}/outcome", post_call_outcome)
    app.router.add_post("/api/v1/calls/{id}/callback", post_callback)
    app.router.add_get("/api/v1/callbacks", get_callbacks)
    app.router.add_get("/api/v1/numbers/{phone}", get_number)
    app.router.add_post("/api/v1/numbers/{phone}/block", post_block)
    app.router.add_post("/api/v1/numbers/{phone}/unblock", post_block)
    app.router.add_get("/api/v1/incidents/nearby", get_nearby)
    app.router.add_post("/api/v1/incidents", post_incident)
    app.router.add_get("/api/v1/incidents", list_incidents)
    app.router.add_get("/api/v1/incidents/{id}", get_incident)
    app.router.add_post("/api/v1/incidents/{id}/status", post_status)
    app.router.add_post("/api/v1/incidents/{id}/calls", post_attach)
    app.router.add_post("/api/v1/incidents/{id}/calls/{call_id}/unlink", post_unlink)
    app.router.add_post("/api/v1/incidents/{id}/merge", post_merge)
    app.router.add_post("/api/v1/incidents/{id}/close", post_close)
    app.router.add_post("/api/v1/incidents/{id}/assignments", post_assignment)
    app.router.add_post(
        "/api/v1/incidents/{id}/assignments/{agency}/cancel", post_cancel_assignment
    )
    app.router.add_get("/api/v1/stats", get_stats)
    app.router.add_get("/api/v1/audit", get_audit)
    app.router.add_get("/api/v1/deadlines", get_deadlines)
    app.router.add_post("/api/v1/admin/rules/reload", post_rules_reload)
    app.router.add_get("/api/v1/routing/explain", get_explain)
    app.router.add_get("/api/v1/routing/zones", get_zones)
    app.router.add_get("/api/v1/stream", stream)
    app.router.add_get("/api/v1/openapi.json", get_openapi)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)


PAGES = ("calltaker", "supervisor", "opd")


def add_console(app: web.Application, console_dir: Path, leaflet_dir: str) -> None:
    """The three screens and the login page are static files; data comes from the API."""

    def page(name: str) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
        async def handler(request: web.Request) -> web.FileResponse:
            return web.FileResponse(console_dir / f"{name}.html")

        return handler

    app.router.add_get("/", page("index"))
    for name in PAGES:
        app.router.add_get(f"/{name}", page(name))
    app.router.add_static("/static/leaflet", leaflet_dir)
    app.router.add_static("/static", console_dir)


def openapi_document() -> bytes:
    return (Path(__file__).parent / "openapi.json").read_bytes()
