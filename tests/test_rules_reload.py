"""Hot reload of the rule set: validated first, a bad one refused with reasons and the old kept."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from dispatch.app import create_app
from dispatch.routing import RoutingTable
from dispatch.settings import Settings
from dispatch.web import CTX
from tests.conftest import ROOT, Api, FakeClock, fire, truncate


@pytest.fixture
async def editable(
    tmp_path: Path, settings: Settings, database_url: str, clock: FakeClock, rules: RoutingTable
) -> AsyncIterator[tuple[Api, TestServer, Path]]:
    """A server whose rule set lives in a copy the test may edit."""
    rules_dir = tmp_path / "rules"
    shutil.copytree(ROOT / "routing_rules", rules_dir)
    await truncate(database_url)
    app = await create_app(
        replace(settings, rules_dir=rules_dir), database_url, clock=clock, rules=rules
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with ClientSession() as session:
        yield Api(str(server.make_url("")).rstrip("/"), session, {}), server, rules_dir
    await server.close()


def move_fire_to(rules_dir: Path, agency: str) -> None:
    text = (rules_dir / "rules.toml").read_text()
    marker = 'id = "kebakaran-kota"'
    start = text.index(marker)
    block_end = text.index("[[rule]]", start)
    block = text[start:block_end].replace('primary = ["DAMKAR"]', f'primary = ["{agency}"]', 1)
    (rules_dir / "rules.toml").write_text(text[:start] + block + text[block_end:])


async def test_admin_reload_swaps_in_a_valid_rule_set(
    editable: tuple[Api, TestServer, Path],
) -> None:
    api, server, rules_dir = editable
    before = server.app[CTX].rules.version
    move_fire_to(rules_dir, "SATPOLPP")
    status, body = await api.post("/api/v1/admin/rules/reload", "admin")
    assert status == 200, body
    assert body["previous_version"] == before
    assert body["version"] != before
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire(priority=2))
    assert incident["assignments"][0]["agency"] == "SATPOLPP"
    assert incident["ruleset_version"] == body["version"]


async def test_bad_rule_set_is_refused_with_reasons_and_the_old_one_stays(
    editable: tuple[Api, TestServer, Path],
) -> None:
    api, server, rules_dir = editable
    before = server.app[CTX].rules.version
    move_fire_to(rules_dir, "DAMKR")
    status, body = await api.post("/api/v1/admin/rules/reload", "admin")
    assert status == 422
    assert body["error"]["code"] == "rules_refused"
    assert any("kebakaran-kota" in p and "DAMKR" in p for p in body["error"]["problems"])
    assert server.app[CTX].rules.version == before
    _, incident = await api.post("/api/v1/incidents", "operator1", json=fire(priority=2))
    assert incident["assignments"][0]["agency"] == "DAMKAR"


async def test_only_an_admin_reloads_rules(editable: tuple[Api, TestServer, Path]) -> None:
    api, _, _ = editable
    assert (await api.post("/api/v1/admin/rules/reload", "supervisor1"))[0] == 403


async def test_sighup_reloads_the_rule_set(editable: tuple[Api, TestServer, Path]) -> None:
    api, server, rules_dir = editable
    before = server.app[CTX].rules.version
    move_fire_to(rules_dir, "SATPOLPP")
    os.kill(os.getpid(), signal.SIGHUP)
    for _ in range(100):
        if server.app[CTX].rules.version != before:
            break
        await asyncio.sleep(0.05)
    assert server.app[CTX].rules.version != before
    _, audit = await api.get("/api/v1/audit?actor=system", "supervisor1")
    assert [(e["type"], e["via"]) for e in audit["events"]] == [("rules.reloaded", "sighup")]
