"""The real ``python -m dispatch serve`` process: crash durability, clean SIGTERM, embedded DB."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.conftest import PASSWORD, ROOT, drain, fire, truncate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(self, port: int, env: dict[str, str], args: list[str], log: Path) -> None:
        self.port = port
        self.env = env
        self.args = args
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 60) -> None:
        cmd = [
            sys.executable,
            "-m",
            "dispatch",
            "serve",
            "--port",
            str(self.port),
            "--demo",
            *self.args,
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited:\n{self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server did not start:\n{self.log.read_text()[-3000:]}")

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.proc = None
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "DISPATCH_DEMO_PASSWORD": PASSWORD}


@pytest.fixture
def process(env: dict[str, str], tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(free_port(), env, [], tmp_path / "server.log")
    yield server
    server.stop()


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
        process.signal(signal.SIGKILL)
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


def postgres_running_on(pgdata: Path) -> bool:
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(pgdata) in " ".join(proc.info["cmdline"] or []):
            return True
    return False


async def test_serve_without_database_url_runs_embedded_postgres_and_sigterm_stops_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in env.items() if k != "DATABASE_URL"}
    data_dir = tmp_path / "var"
    server = ServerProcess(free_port(), env, ["--data-dir", str(data_dir)], tmp_path / "server.log")
    try:
        server.start(timeout=120)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.base}/readyz") as r:
                assert r.status == 200
            token = await login(session, server.base, "damkar")
            assert token
        pgdata = (data_dir / "pg").resolve()
        assert postgres_running_on(pgdata)
        assert server.signal(signal.SIGTERM) == 0
        assert not postgres_running_on(pgdata)
    finally:
        server.stop()
