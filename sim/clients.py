"""API and stream clients over real sockets: a thin JSON client and a resuming stream reader.

They speak only the public HTTP/WebSocket contract (DESIGN §5); they must not import the server.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from sim.server import DEMO_PASSWORD

JSONDict = dict[str, Any]
# Errors that mean "the server is not there right now" (killed, restarting, socket closed).
CONNECTION_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, OSError)


@dataclass(slots=True)
class Reply:
    status: int  # 0 when the request never got an answer (connection refused/reset)
    body: JSONDict


class Api:
    """One logged-in account. Counts replies by status so reports can show 503s and failures."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str = "") -> None:
        self.session = session
        self.base = base.rstrip("/")
        self.token = token
        self.statuses: Counter[int] = Counter()

    @classmethod
    async def login(
        cls, session: aiohttp.ClientSession, base: str, username: str, attempts: int = 30
    ) -> Api:
        api = cls(session, base)
        for _ in range(attempts):
            reply = await api.request(
                "POST", "/api/v1/login", {"username": username, "password": DEMO_PASSWORD}
            )
            if reply.status == 200:
                api.token = str(reply.body["token"])
                return api
            if reply.status in (401, 403, 422):
                break
            await asyncio.sleep(0.5)
        raise RuntimeError(f"cannot log in as {username}: {reply.status} {reply.body}")

    async def request(self, method: str, path: str, body: JSONDict | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        data = orjson.dumps(body) if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self.session.request(
                method, self.base + path, data=data, headers=headers
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except CONNECTION_ERRORS:
            self.statuses[0] += 1
            return Reply(0, {})
        self.statuses[status] += 1
        try:
            parsed = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            parsed = {"raw": raw[:200].decode(errors="replace")}
        return Reply(status, parsed if isinstance(parsed, dict) else {"data": parsed})

    async def get(self, path: str) -> Reply:
        return await self.request("GET", path)

    async def post(self, path: str, body: JSONDict) -> Reply:
        return await self.request("POST", path, body)


OnEvent = Callable[[JSONDict, float], None]


@dataclass(slots=True)
class StreamClient:
    """Reads ``/api/v1/stream`` and resumes with ``after=<last seq>`` after any close.

    ``seqs`` is every seq received, in arrival order, so that gaps, repeats and disorder can be
    checked against a fresh replay afterwards. ``on_event`` gets each message and its receipt
    time (``time.perf_counter()``).
    """

    api: Api
    name: str
    on_event: OnEvent | None = None
    after: int = 0
    seqs: list[int] = field(default_factory=list)
    connects: int = 0
    close_codes: Counter[int] = field(default_factory=Counter)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    advanced: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            url = f"{self.api.base}/api/v1/stream?after={self.after}&token={self.api.token}"
            try:
                async with self.api.session.ws_connect(url, heartbeat=10) as ws:
                    self.connects += 1
                    self.connected.set()
                    backoff = 0.05
                    await self._read(ws)
                    self.close_codes[ws.close_code or 0] += 1
            except (aiohttp.WSServerHandshakeError, *CONNECTION_ERRORS):
                self.close_codes[-1] += 1  # could not connect: server down or DB unavailable
            self.connected.clear()
            if not self._stop.is_set():
                await asyncio.sleep(backoff)
                backoff = min(1.0, backoff * 2)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            while True:
                recv = asyncio.ensure_future(ws.receive())
                done, _ = await asyncio.wait({recv, stop}, return_when=asyncio.FIRST_COMPLETED)
                if recv not in done:
                    recv.cancel()
                    await ws.close()
                    return
                msg = recv.result()
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    return
                received = time.perf_counter()
                event: JSONDict = orjson.loads(msg.data)
                seq = int(event["seq"])
                self.seqs.append(seq)
                self.after = max(self.after, seq)
                self.advanced.set()
                if self.on_event is not None:
                    self.on_event(event, received)
        finally:
            stop.cancel()

    def stop(self) -> None:
        self._stop.set()

    async def wait_for_seq(self, seq: int) -> None:
        """Return once ``seq`` (or later) has arrived; bound it with ``asyncio.timeout``."""
        while self.after < seq:
            self.advanced.clear()
            await self.advanced.wait()


async def replay(api: Api, idle_s: float = 1.0) -> dict[int, str]:
    """Every event this account may see, from a fresh ``after=0`` connection: seq -> type.

    Reads until nothing came for ``idle_s``.
    """
    seqs: dict[int, str] = {}
    url = f"{api.base}/api/v1/stream?after=0&token={api.token}"
    async with api.session.ws_connect(url) as ws:
        while True:
            try:
                msg = await ws.receive(timeout=idle_s)
            except TimeoutError:
                break
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            event = orjson.loads(msg.data)
            seqs[int(event["seq"])] = str(event.get("type"))
    return seqs
