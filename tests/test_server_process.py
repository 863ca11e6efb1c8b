"""The real ``python -m dispatch serve`` process: crash durability, clean SIGTERM, embedded DB."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from sim.server import ServerProcess
from tests.conftest import PASSWORD, drain, fire, truncate


@pytest.fixture
def process(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """The real server on the tests' database (so that the test can truncate and inspect it)."""
    server = ServerProcess(tmp_path, env={"DATABASE_URL": database_url})
    yield server
    server.kill()


async def login(session: aiohttp.ClientSession, base: str, username: str) -> str:
    async with session.post(
        f"{base}/api/v1/login", json={"username": username, "password": PASSWORD}
    ) as r:
        assert r.status == 200
        return str((await r.json())["token"])


async def test_every_incident_answered_201_survives_kill_9(
    process: ServerProcess, database_url: str
) -> None:
    await truncate(database_url)
    process.start()
    acknowledged: list[int] = []
    enough = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        token = await login(session, process.base, "operator1")
        headers = {"Authorization": f"Bearer {token}"}

        async def submit(n: int) -> None:
            try:
                async with session.post(
                    f"{process.base}/api/v1/incidents",
                    json=fire(client_ref=f"kill-{n}"),
                    headers=headers,
                ) as resp:
                    if resp.status == 201:
                        acknowledged.append((await resp.json())["id"])
                        if len(acknowledged) >= 20:
                            enough.set()
            except aiohttp.ClientError:
                pass  # in flight when the process died: never acknowledged, may or may not exist

        tasks = [asyncio.create_task(submit(n)) for n in range(60)]
        await asyncio.wait_for(enough.wait(), 30)
        process.kill()
        await asyncio.gather(*tasks)
    assert len(acknowledged) >= 20

    process.start()
    async with aiohttp.ClientSession() as session:
        token = await login(session, process.base, "supervisor1")
        headers = {"Authorization": f"Bearer {token}"}
        for incident_id in acknowledged:
            async with session.get(
                f"{process.base}/api/v1/incidents/{incident_id}", headers=headers
            ) as r:
                assert r.status == 200
        ws = await session.ws_connect(f"{process.base}/api/v1/stream?after=0&token={token}")
        replayed = await drain(ws)
        seqs = [m["seq"] for m in replayed]
        assert seqs == sorted(set(seqs))
        assert set(acknowledged) <= {m["incident_id"] for m in replayed}


async def test_serve_without_database_url_runs_embedded_postgres_and_sigterm_stops_it(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "var")
    try:
        server.start(timeout=120)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.base}/readyz") as r:
                assert r.status == 200
            token = await login(session, server.base, "damkar")
            assert token
        assert server.pg_running()
        assert server.stop() == 0
        assert not server.pg_running()
    finally:
        server.kill()
