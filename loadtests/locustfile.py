"""Locust load on the latency-critical path: call-takers submit, agency screens listen.

Call-takers post the realistic mix (mostly pranks closed with an outcome, some incidents with a
client_ref); agency listeners report intake->push latency as Locust "WS intake->push" requests.
It only loads and measures; it must not import the server or assert targets.

Headless, against a running server (``python -m dispatch serve --demo``):

    locust -f loadtests/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8112

Listeners are a fixed 4 users (DAMKAR, POLRESTA, DINKES, PLN); the rest are call-takers.
The password is DISPATCH_DEMO_PASSWORD (default demo112).
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from typing import Any

import orjson
import requests
from locust import HttpUser, User, between, events, task
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

PASSWORD = os.environ.get("DISPATCH_DEMO_PASSWORD") or "demo112"
# Kota Serang, inside the city: a box around its centre (kelurahan Cipare .. Kasemen).
LAT = (-6.16, -6.06)
LON = (106.12, 106.20)
# What a call turns out to be (ntpd112_call_stats.csv, Kota Serang) and real categories.
OUTCOMES = {"prank": 34, "ghost": 26, "abandoned": 30, "info": 8, "misdial": 2, "real": 2}
CATEGORIES = {"listrik": 34, "kecelakaan": 22, "kebakaran": 20, "medis": 19, "kriminal": 10}
LISTEN_AS = ("damkar", "polresta", "dinkes", "pln")

# client_ref -> perf_counter() at the POST send; read by listeners in the same process.
SENT: dict[str, float] = {}
SENT_LIMIT = 200_000
_refs = itertools.count()
_listeners = itertools.count()
_lock = threading.Lock()


def login(client: Any, username: str) -> str:
    with client.post(
        "/api/v1/login",
        json={"username": username, "password": PASSWORD},
        name="/api/v1/login",
        catch_response=True,
    ) as resp:
        if resp.status_code != 200:
            resp.failure(f"login {username}: {resp.status_code}")
            raise RuntimeError(f"cannot log in as {username}")
        return str(resp.json()["token"])


class CallTaker(HttpUser):
    """One console: every call is posted; pranks are closed, real ones become incidents."""

    weight = 10
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        token = login(self.client, "operator1")
        self.client.headers["Authorization"] = f"Bearer {token}"

    @task
    def take_call(self) -> None:
        lat, lon = random.uniform(*LAT), random.uniform(*LON)
        phone = "0812" + "".join(random.choices("0123456789", k=8))
        kind = random.choices(list(OUTCOMES), weights=list(OUTCOMES.values()))[0]
        call = self.client.post(
            "/api/v1/calls",
            json={"phone": phone, "location": {"lat": lat, "lon": lon, "accuracy_m": 30}},
            name="/api/v1/calls",
        )
        if call.status_code != 201:
            return
        call_id = call.json()["id"]
        if kind != "real":
            self.client.post(
                f"/api/v1/calls/{call_id}/outcome",
                json={"outcome": kind},
                name="/api/v1/calls/{id}/outcome",
            )
            return
        category = random.choices(list(CATEGORIES), weights=list(CATEGORIES.values()))[0]
        self.client.get(
            f"/api/v1/incidents/nearby?lat={lat}&lon={lon}&category={category}",
            name="/api/v1/incidents/nearby",
        )
        ref = f"locust-{os.getpid()}-{next(_refs)}"
        with _lock:
            if len(SENT) > SENT_LIMIT:
                SENT.clear()
            SENT[ref] = time.perf_counter()
        self.client.post(
            "/api/v1/incidents",
            json={
                "call_id": call_id,
                "category": category,
                "location": {"lat": lat, "lon": lon},
                "client_ref": ref,
            },
            name="/api/v1/incidents",
        )


class AgencyListener(User):
    """An agency screen on the stream; every incident.opened it gets is timed against its send."""

    fixed_count = len(LISTEN_AS)
    wait_time = between(1, 1)

    def on_start(self) -> None:
        self.agency = LISTEN_AS[next(_listeners) % len(LISTEN_AS)]
        resp = requests.post(
            f"{self.host}/api/v1/login",
            json={"username": self.agency, "password": PASSWORD},
            timeout=10,
        )
        resp.raise_for_status()
        self.token = resp.json()["token"]
        self.after = 0

    @task
    def listen(self) -> None:
        """Read until the socket closes, then resume after the last seq (next task run)."""
        url = self.host.replace("http", "ws", 1) + "/api/v1/stream"
        try:
            with connect(f"{url}?after={self.after}&token={self.token}") as ws:
                for raw in ws:
                    received = time.perf_counter()
                    event = orjson.loads(raw)
                    self.after = max(self.after, int(event["seq"]))
                    if event.get("type") == "incident.opened":
                        self._report(event, received)
        except (ConnectionClosed, OSError) as exc:
            events.request.fire(
                request_type="WS",
                name="stream disconnect",
                response_time=0,
                response_length=0,
                exception=exc,
                context={"agency": self.agency},
            )

    def _report(self, event: dict[str, Any], received: float) -> None:
        ref = (event.get("data", {}).get("incident") or {}).get("client_ref")
        sent = SENT.get(ref) if isinstance(ref, str) else None
        if sent is None:
            return  # not from this process (another worker) or from before the run
        events.request.fire(
            request_type="WS",
            name="intake->push",
            response_time=(received - sent) * 1000,
            response_length=0,
            exception=None,
            context={"agency": self.agency},
        )
