"""Shared fixtures: one real PostgreSQL per test session, a real app on a real socket.

The database is DATABASE_URL when set (docker-compose, CI services), else an embedded pgserver
cluster started once for the session. Tables are truncated between tests, not rolled back, so
commits and publishing are really exercised.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pgserver
import pytest
from aiohttp import ClientSession, ClientWebSocketResponse, web
from aiohttp.test_utils import TestServer

from dispatch.app import create_app
from dispatch.routing import RoutingTable
from dispatch.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PASSWORD = "demo112"
TEST_DB = "dispatch_test"


class FakeClock:
    """A clock the tests move by hand; starts at a fixed WIB morning."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # 09:00 WIB

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A DSN of an empty test database on a real PostgreSQL server."""
    base = os.environ.get("DATABASE_URL")
    if base:
        yield base
        return
    with tempfile.TemporaryDirectory(prefix="dispatch-pg-") as tmp:
        server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        server.psql(f"CREATE DATABASE {TEST_DB};")
        yield server.get_uri(TEST_DB)
        server.cleanup()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=Path("unused"),
        rules_dir=ROOT / "routing_rules",
        demo=True,
        demo_password=PASSWORD,
    )


@pytest.fixture(scope="session")
def rules(settings: Settings) -> RoutingTable:
    """Loaded once: building the spatial index takes most of a second."""
    return RoutingTable.load(settings.rules_dir)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def truncate(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT to_regclass('events') IS NOT NULL")
        if exists:
            # Users and tokens stay: hashing demo passwords for every test would cost seconds.
            await conn.execute(
                "TRUNCATE events, assignments, callback_attempts, number_actions, calls,"
                " incidents RESTART IDENTITY"
            )
    finally:
        await conn.close()


class Api:
    """A logged-in HTTP client per user, plus stream sockets, against one running server."""

    def __init__(self, base: str, session: ClientSession, tokens: dict[str, str]) -> None:
        self.base = base
        self.session = session
        self.tokens = tokens

    async def token(self, username: str) -> str:
        if username not in self.tokens:
            async with self.session.post(
                f"{self.base}/api/v1/login", json={"username": username, "password": PASSWORD}
            ) as resp:
                assert resp.status == 200, await resp.text()
                self.tokens[username] = (await resp.json())["token"]
        return self.tokens[username]

    async def request(
        self, method: str, path: str, user: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = kwargs.pop("headers", {})
        if user is not None:
            headers["Authorization"] = f"Bearer {await self.token(user)}"
        async with self.session.request(
            method, f"{self.base}{path}", headers=headers, **kwargs
        ) as resp:
            body = (
                await resp.json() if resp.content_type == "application/json" else await resp.text()
            )
            return resp.status, body

    async def get(self, path: str, user: str | None = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("GET", path, user, **kwargs)

    async def post(self, path: str, user: str | None = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("POST", path, user, **kwargs)

    async def stream(self, user: str, after: int = 0) -> ClientWebSocketResponse:
        token = await self.token(user)
        return await self.session.ws_connect(
            f"{self.base}/api/v1/stream?after={after}&token={token}"
        )


# Logins are argon2-slow, so tokens are kept for the session: they stay valid because every
# FakeClock starts at the same instant. A test on real time gets its own.
TOKENS: dict[str, str] = {}


@pytest.fixture
async def server(
    settings: Settings, database_url: str, clock: FakeClock, rules: RoutingTable
) -> AsyncIterator[TestServer]:
    await truncate(database_url)
    app = await create_app(settings, database_url, clock=clock, rules=rules)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
async def api(server: TestServer, clock: FakeClock) -> AsyncIterator[Api]:
    tokens = TOKENS if type(clock) is FakeClock else {}
    async with ClientSession() as session:
        yield Api(str(server.make_url("")).rstrip("/"), session, tokens)


@pytest.fixture
def app(server: TestServer) -> web.Application:
    return server.app


async def next_message(ws: ClientWebSocketResponse, wait: float = 2.0) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), wait)
    assert msg.type.name in {"TEXT", "BINARY"}, msg
    data: dict[str, Any] = orjson.loads(msg.data)
    return data


async def drain(ws: ClientWebSocketResponse, quiet: float = 0.3) -> list[dict[str, Any]]:
    """Every message that arrives until the socket is quiet for ``quiet`` seconds."""
    out: list[dict[str, Any]] = []
    while True:
        try:
            out.append(await next_message(ws, quiet))
        except TimeoutError:
            return out


FIRE = {"category": "kebakaran", "location": {"lat": -6.12, "lon": 106.15}, "phone": "081234567890"}


def fire(**changes: Any) -> dict[str, Any]:
    return {**FIRE, **changes}


Factory = Callable[..., dict[str, Any]]
