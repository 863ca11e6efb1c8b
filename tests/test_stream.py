"""The live stream: scoping by login, replay then live with no gap or repeat, resync."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiohttp import WSMsgType, web

from dispatch.incidents import Event
from dispatch.web import CTX, RESYNC_CLOSE
from tests.conftest import Api, drain, fire, next_message


async def test_agency_stream_gets_its_incident_and_another_agency_gets_nothing(api: Api) -> None:
    damkar = await api.stream("damkar")
    polresta = await api.stream("polresta")
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire())
    message = await next_message(damkar)
    assert message["type"] == "incident.opened"
    assert message["incident_id"] == incident["id"]
    assert message["data"]["incident"]["assignments"][0]["agency"] == "DAMKAR"
    assert await drain(polresta) == []


async def test_other_agency_gets_403_on_the_incident_and_its_status(api: Api) -> None:
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire())
    path = f"/api/v1/incidents/{incident['id']}"
    assert (await api.get(path, "damkar"))[0] == 200
    status, body = await api.get(path, "polresta")
    assert status == 403
    assert body["error"]["code"] == "forbidden"
    status, _ = await api.post(f"{path}/status", "polresta", json={"status": "acknowledged"})
    assert status == 403
    assert (await api.post(f"{path}/status", "damkar", json={"status": "acknowledged"}))[0] == 200
    _, listing = await api.get("/api/v1/incidents", "polresta")
    assert listing["incidents"] == []


async def test_centre_screens_see_every_event(api: Api) -> None:
    supervisor = await api.stream("supervisor1")
    operator = await api.stream("operator1")
    await api.post("/api/v1/incidents", "operator1", json=fire())
    await api.post("/api/v1/incidents", "operator1", json=fire(category="kriminal"))
    for ws in (supervisor, operator):
        assert [m["type"] for m in await drain(ws)] == ["incident.opened", "incident.opened"]


async def test_stream_needs_a_valid_token(api: Api) -> None:
    status, body = await api.get("/api/v1/stream?token=forged")
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


async def test_stream_with_bad_after_names_the_field(api: Api) -> None:
    token = await api.token("damkar")
    status, body = await api.get(f"/api/v1/stream?after=-1&token={token}")
    assert status == 422
    assert "after" in body["error"]["fields"]


async def test_resumed_stream_gets_every_missed_event_once_in_seq_order(api: Api) -> None:
    ws = await api.stream("damkar")
    _, first = await api.post("/api/v1/incidents", "operator1", json=fire())
    seen = [await next_message(ws)]
    await ws.close()
    # While the screen is away: three more incidents and a status change.
    for n in range(3):
        await api.post("/api/v1/incidents", "operator1", json=fire(description=f"missed {n}"))
    await api.post(
        f"/api/v1/incidents/{first['id']}/status", "damkar", json={"status": "acknowledged"}
    )
    resumed = await api.stream("damkar", after=seen[-1]["seq"])
    # ...and one more live while it replays.
    await api.post("/api/v1/incidents", "operator1", json=fire(description="live"))
    seen += await drain(resumed)
    seqs = [m["seq"] for m in seen]
    assert seqs == sorted(set(seqs))
    types = [m["type"] for m in seen]
    assert types.count("incident.opened") == 5
    assert types.count("assignment.acknowledged") == 1
    full = await drain(await api.stream("damkar", after=0))
    assert [m["seq"] for m in full] == seqs


async def test_replay_and_live_have_no_gap_under_concurrent_writes(api: Api) -> None:
    async def submit(n: int) -> None:
        await api.post("/api/v1/incidents", "operator1", json=fire(description=f"burst {n}"))

    await asyncio.gather(*(submit(n) for n in range(10)))
    ws = await api.stream("supervisor1", after=0)
    await asyncio.gather(*(submit(n) for n in range(10, 30)))
    seqs = [m["seq"] for m in await drain(ws, quiet=0.5)]
    assert seqs == list(range(1, 31))


async def test_slow_screen_is_told_to_resync_and_others_keep_flowing(
    api: Api, app: web.Application
) -> None:
    hub = app[CTX].hub
    hub.queue_size = 3  # a tiny bound so the test can overflow it quickly
    slow = await api.stream("supervisor1")
    hub.queue_size = 1000
    fast = await api.stream("supervisor1")
    # Fill the slow socket's queue without letting its sender run: publish synchronously.
    sub = next(s for s in hub.subscribers if s.queue.maxsize == 3)
    events = [
        Event(
            seq=1000 + n,
            type="test.ping",
            actor="system",
            at=app[CTX].clock(),
            incident_id=None,
            call_id=None,
            agencies=(),
            data={},
        )
        for n in range(10)
    ]
    hub.publish(events)
    assert sub.overflowed
    closed = None
    async for msg in slow:
        if msg.type in {WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING}:
            closed = msg
            break
    assert slow.close_code == RESYNC_CLOSE or (closed is not None and closed.data == RESYNC_CLOSE)
    got = await drain(fast)
    assert [m["seq"] for m in got] == [1000 + n for n in range(10)]
    _, text = await api.get("/metrics")
    assert "dispatch_stream_resyncs_total 1.0" in text


@pytest.mark.parametrize("user", ["damkar", "supervisor1"])
async def test_snapshot_plus_events_equals_a_fresh_snapshot(api: Api, user: str) -> None:
    """Zulip's check: a screen that applies the stream to its list ends where a fresh list is."""
    _, before = await api.get("/api/v1/incidents?status=open", user)
    ws = await api.stream(user, after=before["last_seq"])
    _, a = await api.post("/api/v1/incidents", "operator1", json=fire())
    await api.post("/api/v1/incidents", "operator1", json=fire(category="kriminal"))
    await api.post("/api/v1/incidents", "operator1", json=fire(category="banjir"))  # 3 agencies
    await api.post(f"/api/v1/incidents/{a['id']}/status", "damkar", json={"status": "acknowledged"})
    board = {i["id"]: i for i in before["incidents"]}
    for message in await drain(ws):
        incident = message["data"]["incident"]
        if incident["status"] == "closed":
            board.pop(incident["id"], None)
        else:
            board[incident["id"]] = incident
    _, after = await api.get("/api/v1/incidents?status=open", user)
    assert board == {i["id"]: i for i in after["incidents"]}


async def test_a_commit_whose_answer_was_lost_is_published_before_newer_events(
    api: Api, app: web.Application, database_url: str
) -> None:
    supervisor = await api.stream("supervisor1")
    await api.post("/api/v1/incidents", "operator1", json=fire())
    await drain(supervisor)
    # As if the database committed a change while the connection dropped during COMMIT: the
    # row is in the log, but this process never heard of it and published nothing.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO events (type, actor, at, data) VALUES ('number.blocked', 'x', now(), '{}')"
        )
    finally:
        await conn.close()
    await api.post("/api/v1/incidents", "operator1", json=fire(category="kriminal"))
    got = await drain(supervisor)
    assert [m["type"] for m in got] == ["number.blocked", "incident.opened"]
    assert [m["seq"] for m in got] == [2, 3]
