"""``sim chaos``: keep submitting while the server is SIGKILLed and PostgreSQL is stopped.

Then checks that every incident answered 201 exists and that every stream client got every event
exactly once, in order, against a fresh ``after=0`` replay. It reports; it must not repair data.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from sim.clients import Api, JSONDict, StreamClient, replay
from sim.scenario import load_zones, point_in
from sim.server import ServerProcess

# Agencies whose screens we watch, and a category that reaches each as primary.
LISTENERS = {"damkar": "kebakaran", "polresta": "kriminal", "dinkes": "medis", "pln": "listrik"}
SUBMITTERS = 16
PACE_S = 0.25  # each submitter's pause between incidents: ~60 incidents/s in all
RECOVERY_LIMIT_S = 30.0


@dataclass(slots=True)
class Fault:
    kind: str
    at_s: float
    down_s: float = 0.0  # how long the fault was applied (process restart, DB stopped)
    recovered_after_s: float | None = None  # from the fault to the first 201 after the repair
    note: str = ""


@dataclass(slots=True)
class Load:
    """Submitters retry the same client_ref until they get an answer that says it is saved."""

    api: Api
    points: tuple[tuple[float, float], ...]
    acknowledged: dict[str, int] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    last_ok: float = 0.0
    running: bool = True
    refs: itertools.count[int] = field(default_factory=itertools.count)

    async def submitter(self, n: int) -> None:
        rng = random.Random(n)
        categories = list(LISTENERS.values())
        while self.running:
            ref = f"chaos-{n}-{next(self.refs)}"
            lat, lon = rng.choice(self.points)
            body = {
                "phone": f"0813{rng.randrange(10**8):08d}",
                "category": rng.choice(categories),
                "location": {"lat": lat, "lon": lon},
                "client_ref": ref,
            }
            backoff = 0.1
            while True:  # a submit is retried until saved, even after the load is stopped
                reply = await self.api.post("/api/v1/incidents", body)
                self.statuses[reply.status] += 1
                if reply.status in (200, 201):
                    self.acknowledged[ref] = int(reply.body["id"])
                    self.last_ok = time.monotonic()
                    break
                if reply.status not in (0, 500, 502, 503):
                    break  # a real refusal: nothing to retry
                await asyncio.sleep(backoff)
                backoff = min(1.0, backoff * 2)
            await asyncio.sleep(PACE_S)


async def _await_ok(load: Load, fault_at: float, repaired_at: float) -> float | None:
    """Seconds from the fault to the first saved submit after the repair (None: none in time)."""
    deadline = repaired_at + RECOVERY_LIMIT_S
    while time.monotonic() < deadline:
        if load.last_ok > repaired_at:
            return round(load.last_ok - fault_at, 2)
        await asyncio.sleep(0.05)
    return None


async def _kill_and_restart(server: ServerProcess, load: Load, t0: float) -> Fault:
    fault = Fault("server SIGKILL + restart", round(time.monotonic() - t0, 2))
    at = time.monotonic()
    server.kill()
    await asyncio.to_thread(server.start)
    fault.down_s = round(time.monotonic() - at, 2)
    fault.recovered_after_s = await _await_ok(load, at, time.monotonic())
    return fault


async def _db_outage(server: ServerProcess, load: Load, t0: float, outage_s: float) -> Fault:
    fault = Fault("PostgreSQL pg_ctl stop -m fast / start", round(time.monotonic() - t0, 2))
    at = time.monotonic()
    fault.down_s = round(await asyncio.to_thread(server.pg_restart_after, outage_s), 2)
    fault.recovered_after_s = await _await_ok(load, at, time.monotonic())
    if fault.recovered_after_s is None:
        alive = server.proc is not None and server.proc.poll() is None
        fault.note = (
            f"intake did not recover within {RECOVERY_LIMIT_S:.0f} s after the database came "
            f"back (server process {'alive' if alive else 'exited'}); restarted it"
        )
        server.stop()
        await asyncio.to_thread(server.start)
    return fault


async def _exercise(server: ServerProcess, quick: bool) -> JSONDict:
    rng = random.Random(3)
    zones = load_zones()
    points = tuple(point_in(rng, rng.choice(zones).geometry) for _ in range(200))
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        base = server.base
        load = Load(await Api.login(session, base, "operator1"), points)
        accounts = {name: await Api.login(session, base, name) for name in LISTENERS}
        accounts["supervisor1"] = await Api.login(session, base, "supervisor1")
        clients = {name: StreamClient(api, name) for name, api in accounts.items()}
        streams = [asyncio.create_task(c.run()) for c in clients.values()]
        await asyncio.gather(*(c.connected.wait() for c in clients.values()))

        t0 = time.monotonic()
        submitters = [asyncio.create_task(load.submitter(n)) for n in range(SUBMITTERS)]
        pause = 1.5 if quick else 5.0
        faults: list[Fault] = []
        await asyncio.sleep(pause)
        faults.append(await _kill_and_restart(server, load, t0))
        await asyncio.sleep(pause)
        faults.append(await _db_outage(server, load, t0, 2.0 if quick else 5.0))
        await asyncio.sleep(pause)
        if not quick:
            faults.append(await _kill_and_restart(server, load, t0))
            await asyncio.sleep(pause)
        load.running = False
        await asyncio.gather(*submitters)
        load_s = time.monotonic() - t0

        # Every client must catch up with the log, then match a fresh replay exactly up to the
        # horizon (the server may add events of its own later, e.g. deadline alarms).
        await asyncio.sleep(1.0)
        supervisor = accounts["supervisor1"]
        listing = await supervisor.get("/api/v1/incidents?status=open")
        last_seq = int(listing.body.get("last_seq", 0))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                await clients["supervisor1"].wait_for_seq(last_seq)
        await asyncio.sleep(1.0)  # agency screens get the same commits at the same moment
        for c in clients.values():
            c.stop()
        await asyncio.gather(*streams)
        per_client: dict[str, JSONDict] = {}
        for name, c in clients.items():
            per_client[name] = _compare(c, await replay(accounts[name]), last_seq)

        lost = []
        for ref, incident_id in load.acknowledged.items():
            reply = await supervisor.get(f"/api/v1/incidents/{incident_id}")
            if reply.status != 200 or reply.body.get("client_ref") != ref:
                lost.append({"client_ref": ref, "id": incident_id, "status": reply.status})
        statuses = Counter(load.statuses)
        for api in accounts.values():
            statuses.update(api.statuses)
    outage = sum(f.recovered_after_s or RECOVERY_LIMIT_S for f in faults)
    return {
        "acknowledged": len(load.acknowledged),
        "lost": len(lost),
        "lost_examples": lost[:10],
        "gaps": sum(c["gaps"] for c in per_client.values()),
        "duplicates": sum(c["duplicates"] for c in per_client.values()),
        "out_of_order": sum(c["out_of_order"] for c in per_client.values()),
        "outage_s": round(outage, 2),
        "http_503": statuses[503],
        "http_500": statuses[500],
        "connection_errors": statuses[0],
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_recovered_from_db_outage": all(
            f.recovered_after_s is not None for f in faults if f.kind.startswith("PostgreSQL")
        ),
        "faults": [
            {
                "kind": f.kind,
                "at_s": f.at_s,
                "down_s": f.down_s,
                "recovered_after_s": f.recovered_after_s,
                "note": f.note,
            }
            for f in faults
        ],
        "load_s": round(load_s, 1),
        "last_seq": last_seq,
        "clients": per_client,
        "load": (
            f"{SUBMITTERS} submitters, each POST /api/v1/incidents then {PACE_S} s pause; "
            "retry with the same client_ref on 0/500/502/503 until 200/201"
        ),
    }


def _compare(client: StreamClient, replayed: dict[int, str], horizon: int) -> JSONDict:
    """The client's seqs up to ``horizon`` against the replay's: missing, repeated, disordered."""
    got = [s for s in client.seqs if s <= horizon]
    want = {s for s in replayed if s <= horizon}
    missing = sorted(want - set(got))
    return {
        "received": len(got),
        "expected": len(want),
        "gaps": len(missing),
        "missing_by_type": dict(Counter(replayed[s] for s in missing)),
        "missing_examples": missing[:10],
        "duplicates": len(got) - len(set(got)),
        "out_of_order": sum(1 for a, b in itertools.pairwise(got) if b <= a),
        "unexpected": len(set(got) - want),
        "after_horizon": sum(1 for s in replayed if s > horizon),
        "connects": client.connects,
        "close_codes": {str(k): v for k, v in sorted(client.close_codes.items())},
    }


async def chaos(*, quick: bool = False) -> dict[str, Any]:
    server = ServerProcess()
    try:
        await asyncio.to_thread(server.start)
        result = await _exercise(server, quick)
    finally:
        await asyncio.to_thread(server.close)
    result["quick"] = quick
    result["ok"] = (
        result["lost"] == 0
        and result["gaps"] == 0
        and result["duplicates"] == 0
        and result["out_of_order"] == 0
        and result["server_recovered_from_db_outage"]
    )
    return result


def print_summary(r: dict[str, Any]) -> None:
    print(
        f"acknowledged {r['acknowledged']}  lost {r['lost']}  gaps {r['gaps']}  "
        f"duplicates {r['duplicates']}  out of order {r['out_of_order']}  "
        f"outage {r['outage_s']} s  503s {r['http_503']}  500s {r['http_500']}  "
        f"connection errors {r['connection_errors']}"
    )
    for f in r["faults"]:
        print(
            f"  t={f['at_s']:>6}s {f['kind']}: down {f['down_s']} s, "
            f"201 again after {f['recovered_after_s']} s {f['note']}"
        )
    for name, c in r["clients"].items():
        print(
            f"  {name:<12} received {c['received']:>6} expected {c['expected']:>6} "
            f"gaps {c['gaps']} dup {c['duplicates']} disorder {c['out_of_order']} "
            f"connects {c['connects']}"
        )
    print("OK" if r["ok"] else "PROBLEMS FOUND")
