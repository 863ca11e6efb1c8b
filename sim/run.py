"""``sim run``: play a scenario against a real server with virtual call-takers and agency operators.

Time is accelerated (``speed`` simulated seconds per wall second); service KPIs are measured in
simulated time, the intake->push latency in wall time. It must not read the database directly:
everything goes through the public API and stream.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp

from dispatch.kpis import percentile
from sim.clients import Api, JSONDict, Reply, StreamClient
from sim.scenario import Scenario, SimCall

# Agency behaviour, simulated seconds: acknowledge (lognormal median ~40 s), leave, travel, work.
ACK_MEDIAN_S = 40.0
TRAVEL_S: dict[str, tuple[float, float]] = {"kebakaran": (300, 780), "medis": (360, 900)}
TRAVEL_DEFAULT_S = (480, 1500)
WORK_S = (600, 2700)

AGENCY_ACCOUNTS = (
    "damkar", "polresta", "dinkes", "rsud", "bpbd", "satpolpp", "dishub",
    "dinsos", "dlh", "pupr", "kodim", "pln", "basarnas", "pmi",
)  # fmt: skip


class SimClock:
    """Simulated seconds since the scenario start, running ``speed`` times faster than wall."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.origin = time.perf_counter()

    def now(self) -> float:
        return self.at(time.perf_counter())

    def at(self, perf: float) -> float:
        return (perf - self.origin) * self.speed

    async def sleep(self, sim_s: float) -> None:
        await asyncio.sleep(max(0.0, sim_s) / self.speed)

    async def until(self, sim_s: float) -> None:
        await self.sleep(sim_s - self.now())


@dataclass(slots=True)
class CallResult:
    call: SimCall
    action: str = "pending"  # abandoned, closed, opened, attached, failed
    answered_s: float | None = None
    call_id: int | None = None
    screening: JSONDict | None = None
    incident_id: int | None = None
    submit_perf: float | None = None
    candidates: int = 0
    correct: bool | None = None  # an attach went to the caller's own event


@dataclass(slots=True)
class World:
    """What the virtual clients share: ground truth and what they observed, for the report."""

    clock: SimClock
    speed: float
    features: dict[str, bool] = field(
        default_factory=lambda: {"outcome": True, "nearby": True, "attach": True}
    )
    results: list[CallResult] = field(default_factory=list)
    incident_event: dict[int, int | None] = field(default_factory=dict)
    incident_category: dict[int, str] = field(default_factory=dict)
    primary: dict[int, str] = field(default_factory=dict)
    pushed: dict[tuple[int, str], float] = field(default_factory=dict)  # perf at receipt
    acked: dict[tuple[int, str], float] = field(default_factory=dict)  # sim s
    on_scene: dict[tuple[int, str], float] = field(default_factory=dict)  # sim s
    resolved: dict[tuple[int, str], float] = field(default_factory=dict)  # sim s
    notes: list[str] = field(default_factory=list)

    def disable(self, feature: str, reply: Reply) -> None:
        if self.features[feature]:
            self.features[feature] = False
            self.notes.append(f"{feature}: endpoint answered HTTP {reply.status}; skipped")


def _route_missing(reply: Reply) -> bool:
    """A 404/405 from the router (not a domain 404), or ``nearby`` taken as an incident id."""
    code = reply.body.get("error", {}).get("code") if isinstance(reply.body, dict) else None
    return (reply.status in (404, 405) and code != "not_found") or (
        reply.status == 422 and "id" in reply.body.get("error", {}).get("fields", {})
    )


async def _retrying(send: Any, attempts: int = 6) -> Reply:
    """Retry while the server is away or the database is down (0 / 503)."""
    reply: Reply = await send()
    for n in range(attempts):
        if reply.status not in (0, 503):
            break
        await asyncio.sleep(0.2 * (n + 1))
        reply = await send()
    return reply


class CallTaker:
    """Answers queued calls one at a time, like an operator at a console."""

    def __init__(self, api: Api, world: World, seed: int) -> None:
        self.api = api
        self.world = world
        self.seed = seed

    async def work(self, queue: asyncio.Queue[CallResult]) -> None:
        while True:
            result = await queue.get()
            try:
                await self.handle(result)
            finally:
                queue.task_done()

    async def handle(self, r: CallResult) -> None:
        c, clock, world = r.call, self.world.clock, self.world
        await clock.sleep(c.ring_s)
        r.answered_s = clock.now()
        if not await receive(self.api, r):
            return
        await clock.sleep(c.handle_s)
        if c.kind != "real":
            await close(self.api, world, r, c.kind)
            return
        if world.features["nearby"] and await self.attach_if_duplicate(r):
            return
        await self.open(r)

    async def attach_if_duplicate(self, r: CallResult) -> bool:
        c, world = r.call, self.world
        reply = await self.api.get(
            f"/api/v1/incidents/nearby?lat={c.lat}&lon={c.lon}&category={c.category}"
        )
        if reply.status != 200:
            if _route_missing(reply):
                world.disable("nearby", reply)
            return False
        candidates = reply.body.get("candidates") or []
        r.candidates = len(candidates)
        if not candidates or not world.features["attach"]:
            return False
        best = max(candidates, key=lambda x: x.get("score", 0))
        incident_id = int(best["incident_id"])
        reply = await _retrying(
            lambda: self.api.post(f"/api/v1/incidents/{incident_id}/calls", {"call_id": r.call_id})
        )
        if reply.status in (200, 201):
            r.action, r.incident_id = "attached", incident_id
            r.correct = world.incident_event.get(incident_id) == c.event
            return True
        if _route_missing(reply):
            world.disable("attach", reply)
        return False

    async def open(self, r: CallResult) -> None:
        c, world = r.call, self.world
        body = {
            "call_id": r.call_id,
            "category": c.category,
            "location": {"lat": c.lat, "lon": c.lon},
            "description": f"simulasi: {c.category} di {c.zone_name}",
            "client_ref": f"sim-{self.seed}-{c.n}",
        }
        r.submit_perf = time.perf_counter()
        reply = await _retrying(lambda: self.api.post("/api/v1/incidents", body))
        if reply.status not in (200, 201):
            r.action = "failed"
            world.notes.append(f"call {c.n}: POST /incidents -> {reply.status} {reply.body}")
            return
        incident_id = int(reply.body["id"])
        r.action, r.incident_id = "opened", incident_id
        world.incident_event[incident_id] = c.event
        world.incident_category[incident_id] = str(c.category)
        for a in reply.body.get("assignments", []):
            if a.get("role") == "primary":
                world.primary[incident_id] = str(a["agency"])


async def receive(api: Api, r: CallResult) -> bool:
    c = r.call
    body: JSONDict = {"phone": c.phone, "channel": "voice"}
    if c.accuracy_m is not None:
        body["location"] = {"lat": c.lat, "lon": c.lon, "accuracy_m": c.accuracy_m}
    reply = await _retrying(lambda: api.post("/api/v1/calls", body))
    if reply.status != 201:
        r.action = "failed"
        return False
    r.call_id = int(reply.body["id"])
    screening = reply.body.get("screening")
    r.screening = screening if isinstance(screening, dict) else None
    return True


async def close(api: Api, world: World, r: CallResult, outcome: str) -> None:
    r.action = "closed"
    if not world.features["outcome"]:
        return
    reply = await _retrying(
        lambda: api.post(f"/api/v1/calls/{r.call_id}/outcome", {"outcome": outcome})
    )
    if _route_missing(reply):
        world.disable("outcome", reply)


class AgencyOperator:
    """One agency's screen: acknowledges each dispatch and moves it to resolved, with delays."""

    def __init__(self, api: Api, agency: str, world: World, rng: random.Random) -> None:
        self.api = api
        self.agency = agency
        self.world = world
        self.rng = rng
        self.tasks: set[asyncio.Task[None]] = set()
        self.stream = StreamClient(api, agency, self.on_event)

    def on_event(self, event: JSONDict, received: float) -> None:
        if event.get("type") != "incident.opened":
            return
        incident_id = int(event["incident_id"])
        key = (incident_id, self.agency)
        if key in self.world.pushed:
            return
        self.world.pushed[key] = received
        category = str(event.get("data", {}).get("incident", {}).get("category", ""))
        task = asyncio.create_task(self.respond(incident_id, category))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def respond(self, incident_id: int, category: str) -> None:
        clock, rng, key = self.world.clock, self.rng, (incident_id, self.agency)
        steps = (
            ("acknowledged", min(600.0, max(5.0, rng.lognormvariate(0, 0.6) * ACK_MEDIAN_S))),
            ("en_route", rng.uniform(20, 120)),
            ("on_scene", rng.uniform(*TRAVEL_S.get(category, TRAVEL_DEFAULT_S))),
            ("resolved", rng.uniform(*WORK_S)),
        )
        marks = {
            "acknowledged": self.world.acked,
            "on_scene": self.world.on_scene,
            "resolved": self.world.resolved,
        }
        for status, delay in steps:
            await clock.sleep(delay)
            reply = await _retrying(
                lambda s=status: self.api.post(
                    f"/api/v1/incidents/{incident_id}/status", {"status": s}
                )
            )
            if reply.status != 200:
                return  # 409: closed or cancelled meanwhile; nothing left for this agency
            if status in marks:
                marks[status][key] = clock.now()


async def run(
    base: str, scenario: Scenario, *, speed: float, calltakers: int = 4, progress: bool = True
) -> tuple[World, float]:
    """Play ``scenario``; returns what was observed and the wall seconds it took."""
    world = World(SimClock(speed), speed)
    world.results = [CallResult(c) for c in scenario.calls]
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        takers = [
            CallTaker(await Api.login(session, base, "operator1"), world, scenario.seed)
            for _ in range(calltakers)
        ]
        rng = random.Random(scenario.seed + 1)
        agencies = [
            AgencyOperator(await Api.login(session, base, name), name.upper(), world, rng)
            for name in AGENCY_ACCOUNTS
        ]
        gateway = await Api.login(session, base, "operator1")
        streams = [asyncio.create_task(a.stream.run()) for a in agencies]
        await asyncio.wait_for(asyncio.gather(*(a.stream.connected.wait() for a in agencies)), 30)

        wall0 = time.perf_counter()
        world.clock = SimClock(speed)
        queue: asyncio.Queue[CallResult] = asyncio.Queue()
        workers = [asyncio.create_task(t.work(queue)) for t in takers]
        side: set[asyncio.Task[None]] = set()
        meter = asyncio.create_task(_progress(world, scenario, queue, progress))
        for r in world.results:
            await world.clock.until(r.call.at_s)
            if r.call.kind == "abandoned":  # the caller hung up before an operator was free
                task = asyncio.create_task(_abandoned(gateway, world, r))
                side.add(task)
                task.add_done_callback(side.discard)
            else:
                queue.put_nowait(r)
        await queue.join()
        await asyncio.gather(*side)
        # Let the agencies finish what they started (bounded: ~3 simulated hours, 90 s wall).
        pending = [t for a in agencies for t in a.tasks]
        if pending:
            await asyncio.wait(pending, timeout=min(90.0, 3 * 3600 / speed))
        wall = time.perf_counter() - wall0
        for task in [*workers, *pending, meter]:
            task.cancel()
        for a in agencies:
            a.stream.stop()
        await asyncio.gather(*streams, *workers, *pending, meter, return_exceptions=True)
        if progress and sys.stderr.isatty():
            print(file=sys.stderr)
    return world, wall


async def _abandoned(api: Api, world: World, r: CallResult) -> None:
    if await receive(api, r):
        await close(api, world, r, "abandoned")
        r.action = "abandoned"


async def _progress(
    world: World, scenario: Scenario, queue: asyncio.Queue[CallResult], enabled: bool
) -> None:
    """One stderr line, redrawn on a terminal (a new line every 10 s otherwise)."""
    if not enabled:
        return
    total = len(world.results)
    tty = sys.stderr.isatty()
    while True:
        done = sum(1 for r in world.results if r.action != "pending")
        sim_now = scenario.start + timedelta(seconds=world.clock.now())
        bar = "#" * (30 * done // max(1, total))
        line = (
            f"[{bar:<30}] {done}/{total} calls  {sim_now:%H:%M} WIB  queue {queue.qsize()}"
            f"  incidents {len(world.incident_event)}  acks {len(world.acked)}  "
        )
        print("\r" + line if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
        await asyncio.sleep(0.5 if tty else 10)


# --- summary -------------------------------------------------------------------------------

ANSWER_TARGETS = ((15.0, 90.0), (20.0, 95.0))  # NENA-STA-020.1: 90% <= 15 s, 95% <= 20 s
PROCESSING_TARGET = (60.0, 90.0)  # NFPA 1225: answer -> agency notified, 90% <= 60 s
FIRE_RESPONSE_TARGET_S = 900.0  # Permendagri 114/2018: fire response <= 15 min
LATENCY_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)


def _kpi(values: list[float], target_s: float | None = None) -> JSONDict:
    out: JSONDict = {
        "n": len(values),
        "p50_s": _round(percentile(values, 50)),
        "p90_s": _round(percentile(values, 90)),
    }
    if target_s is not None:
        within = sum(1 for v in values if v <= target_s)
        out["target_s"] = target_s
        out["compliance_pct"] = round(100 * within / len(values), 1) if values else None
    return out


def _round(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def summarize(scenario: Scenario, world: World, wall_s: float, meta: JSONDict) -> JSONDict:
    results, clock = world.results, world.clock
    by_kind = Counter(r.call.kind for r in results)
    by_action = Counter(r.action for r in results)
    answered = [r for r in results if r.answered_s is not None]
    answer = [r.answered_s - r.call.at_s for r in answered if r.answered_s is not None]

    opened = [r for r in results if r.action == "opened" and r.incident_id is not None]
    processing: list[float] = []
    latency_ms: list[float] = []
    for r in opened:
        assert r.incident_id is not None
        assert r.answered_s is not None
        agency = world.primary.get(r.incident_id)
        pushed = world.pushed.get((r.incident_id, agency or ""))
        if pushed is None or r.submit_perf is None:
            continue
        processing.append(clock.at(pushed) - r.answered_s)
        latency_ms.append((pushed - r.submit_perf) * 1000)
    ack = [t - clock.at(world.pushed[key]) for key, t in world.acked.items() if key in world.pushed]
    first_call = {}
    for r in results:
        if r.call.kind == "real" and r.call.event is not None:
            first_call.setdefault(r.call.event, r.call.at_s)
    fire = [
        t - first_call[ev]
        for (iid, agency), t in world.on_scene.items()
        if agency == "DAMKAR"
        and world.incident_category.get(iid) == "kebakaran"
        and (ev := world.incident_event.get(iid)) is not None
        and ev in first_call
    ]

    real = [r for r in results if r.call.kind == "real"]
    events_opened: Counter[int] = Counter(
        ev for ev in world.incident_event.values() if ev is not None
    )
    pranks = [r for r in results if r.call.kind == "prank"]

    def flagged(r: CallResult) -> bool:
        s = r.screening or {}
        return bool(s.get("blocked")) or float(s.get("prank_score") or 0) >= 0.5

    histogram = _histogram(latency_ms)
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "speed": world.speed,
        "start": scenario.start.isoformat(),
        "simulated_s": round(clock.now(), 1),
        "wall_s": round(wall_s, 1),
        **meta,
        "features": world.features,
        "calls": {
            "total": len(results),
            "by_truth": dict(by_kind),
            "by_action": dict(by_action),
            "real_share_pct": round(100 * by_kind["real"] / max(1, len(results)), 2),
        },
        "incidents": {
            "opened": len(opened),
            "real_events": len({r.call.event for r in real}),
            "events_with_more_than_one_incident": sum(1 for n in events_opened.values() if n > 1),
        },
        "duplicates": {
            "callers_after_the_first": sum(1 for r in real if not r.call.first),
            "attached": by_action["attached"],
            "attached_correctly": sum(1 for r in real if r.correct),
            "attached_wrongly": sum(1 for r in real if r.correct is False),
            "opened_again": sum(events_opened.values()) - len(events_opened),
        },
        "pranks": {
            "prank_calls": len(pranks),
            "closed_as_prank": sum(1 for r in pranks if r.action == "closed")
            if world.features["outcome"]
            else 0,
            "flagged_by_screening": sum(1 for r in pranks if flagged(r)),
            "real_callers_flagged": sum(1 for r in real if flagged(r)),
            "screening_returned": any(r.screening for r in results),
        },
        "kpi": {
            "answer": {
                **_kpi(answer),
                "within_15_s_pct": _pct(answer, ANSWER_TARGETS[0][0]),
                "within_20_s_pct": _pct(answer, ANSWER_TARGETS[1][0]),
                "targets": "90% <= 15 s, 95% <= 20 s (NENA-STA-020.1)",
            },
            "processing": {
                **_kpi(processing, PROCESSING_TARGET[0]),
                "targets": "90% <= 60 s, answer -> agency notified (NFPA 1225)",
            },
            "acknowledge": {**_kpi(ack), "targets": "none in DESIGN §6 (notified -> ack)"},
            "fire_response": {
                **_kpi(fire, FIRE_RESPONSE_TARGET_S),
                "targets": "<= 15 min, first call -> DAMKAR on scene (Permendagri 114/2018)",
            },
        },
        "intake_to_push_ms": {
            "n": len(latency_ms),
            "p50": _round(percentile(latency_ms, 50), 2),
            "p90": _round(percentile(latency_ms, 90), 2),
            "p99": _round(percentile(latency_ms, 99), 2),
            "max": _round(max(latency_ms, default=None), 2) if latency_ms else None,
            "histogram": histogram,
        },
        "arrivals_by_hour": _by_hour(scenario),
        "notes": world.notes[:50],
    }


def _pct(values: list[float], limit: float) -> float | None:
    return round(100 * sum(1 for v in values if v <= limit) / len(values), 1) if values else None


def _histogram(values: list[float]) -> list[JSONDict]:
    edges = (0, *LATENCY_BUCKETS_MS)
    rows = [
        {"le_ms": hi, "count": sum(1 for v in values if lo < v <= hi)}
        for lo, hi in itertools.pairwise(edges)
    ]
    rows.append({"le_ms": None, "count": sum(1 for v in values if v > LATENCY_BUCKETS_MS[-1])})
    return rows


def _by_hour(scenario: Scenario) -> list[JSONDict]:
    counts: Counter[str] = Counter(
        f"{(scenario.start + timedelta(seconds=c.at_s)):%H}:00" for c in scenario.calls
    )
    return [{"hour": h, "calls": n} for h, n in sorted(counts.items())]
