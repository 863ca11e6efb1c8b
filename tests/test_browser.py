"""The three console screens in a real headless Chromium against a real server and database.

One browser per session, a fresh context (own sessionStorage) per screen. Every screen collects
page errors, console errors and 5xx responses; each test ends by asserting there were none.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from dispatch.app import create_app
from dispatch.routing import RoutingTable
from dispatch.settings import Settings
from tests.conftest import PASSWORD, Api, FakeClock, fire

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # The agency screen beeps on a new dispatch without anyone clicking first.
    "--autoplay-policy=no-user-gesture-required",
]
VIEWPORT = {"width": 1440, "height": 900}
# Console noise that the screens turn into visible UI state instead: HTTP 4xx answers are shown
# to the user, and a refused WebSocket while the server restarts is what the offline banner is for.
EXPECTED_CONSOLE = ("Failed to load resource: the server responded with a status of 4",)
RESTART_CONSOLE = (
    "WebSocket connection to",
    "Failed to load resource: net::ERR_CONNECTION_REFUSED",
)


class WallClock(FakeClock):
    """Real time: the screens age incidents against the browser's own clock."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)


@pytest.fixture
def clock() -> FakeClock:
    return WallClock()


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI")
        pytest.skip(f"{CHROMIUM} is not installed")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(chromium_path), args=ARGS, headless=True
        )
        yield chromium
        await chromium.close()


class Screen:
    """One logged-in page and every error it produced."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.tolerated = EXPECTED_CONSOLE
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)
        page.on(
            "response",
            lambda r: r.status >= 500 and self.errors.append(f"{r.status} {r.url}"),
        )

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith(self.tolerated):
            self.errors.append(f"console: {message.text}")


async def open_screen(browser: Browser, base: str, username: str, path: str) -> Screen:
    context = await browser.new_context(viewport=VIEWPORT, locale="id-ID")
    screen = Screen(await context.new_page())
    page = screen.page
    await page.goto(base)
    await page.get_by_label("Nama pengguna").fill(username)
    await page.get_by_label("Kata sandi").fill(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**{path}")
    # The map is the last thing a screen sets up; once zones are drawn the stream is running.
    await page.locator("#map path.leaflet-interactive").first.wait_for()
    return screen


async def count(screen: Screen, incident_id: int, scope: str) -> int:
    return await screen.page.locator(f'{scope} [data-incident-id="{incident_id}"]').count()


async def shoot(screen: Screen, name: str, docs: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    await screen.page.screenshot(path=target)
    # The README's screenshots change only when asked for (UPDATE_SCREENSHOTS=1), so that a
    # test run leaves the working tree as it found it.
    if docs and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, DOCS / f"{name.split('-')[0]}.png")
        assert (DOCS / f"{name.split('-')[0]}.png").stat().st_size < 300_000


def assert_clean(*screens: Screen) -> None:
    assert [e for s in screens for e in s.errors] == []


async def test_a_typed_fire_reaches_damkar_not_polresta_and_its_acknowledgement_reaches_the_board(
    browser: Browser, server: TestServer, api: Api
) -> None:
    base = str(server.make_url("/"))
    calltaker = await open_screen(browser, base, "operator1", "/calltaker")
    damkar = await open_screen(browser, base, "damkar", "/opd")
    polresta = await open_screen(browser, base, "polresta", "/opd")
    supervisor = await open_screen(browser, base, "supervisor1", "/supervisor")

    page = calltaker.page
    await page.get_by_label("Nomor penelepon").fill("081298765432")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("caller-number")).to_have_text("081298765432")
    await page.get_by_label("Kategori").select_option("kebakaran")
    await expect(page.get_by_label("Prioritas")).to_have_value("1")
    await page.get_by_label("Lintang (lat)").fill("-6.1200")
    await page.get_by_label("Bujur (lon)").fill("106.1500")
    await page.get_by_label("Keterangan").fill("Rumah terbakar dekat pasar")
    await page.keyboard.press("Control+Enter")
    result = page.get_by_test_id("result")
    await expect(result).to_be_visible()
    incident_id = int(await result.get_attribute("data-incident-id") or 0)
    await expect(page.locator("#result")).to_contain_text("DAMKAR")
    await expect(page.locator("#result")).to_contain_text("kebakaran")  # the deciding rule

    card = damkar.page.locator(f'#assignments [data-incident-id="{incident_id}"]')
    await expect(card).to_be_visible(timeout=2000)
    await expect(damkar.page.locator("#dispatch-alert")).to_contain_text(f"#{incident_id}")
    await expect(card).to_contain_text("081298765432")  # DAMKAR leads, so it sees the caller
    assert await count(polresta, incident_id, "body") == 0
    await expect(polresta.page.locator("#assignments")).to_contain_text("Tidak ada penugasan")

    await card.get_by_role("button", name="Terima").click()
    await expect(card.get_by_test_id("my-status")).to_contain_text("Diterima")
    await expect(damkar.page.locator("#dispatch-alert")).to_be_hidden()
    row = supervisor.page.locator(f'#board tr[data-incident-id="{incident_id}"]')
    await expect(row).to_contain_text("DAMKAR ✓ Diterima")

    # A few more incidents so that the screenshots show a working centre.
    for category, lat, lon in (("kecelakaan", -6.135, 106.17), ("banjir", -6.09, 106.16)):
        status, _ = await api.post(
            "/api/v1/incidents",
            "operator1",
            json=fire(category=category, location={"lat": lat, "lon": lon}),
        )
        assert status == 201
    await expect(supervisor.page.locator("#board tr[data-incident-id]")).to_have_count(3)

    # A second caller at the same fire: handset location prefilled, the first one offered.
    await page.get_by_label("Nomor penelepon").fill("081377778888")
    await page.get_by_label("Lintang ponsel").fill("-6.1201")
    await page.get_by_label("Bujur ponsel").fill("106.1502")
    await page.get_by_label("Akurasi (m)").fill("40")
    await page.get_by_label("Akurasi (m)").press("Enter")
    await expect(page.get_by_label("Lintang (lat)")).to_have_value("-6.12010")
    await page.get_by_label("Kategori").select_option("kebakaran")
    candidate = page.locator(f'#candidates [data-candidate-id="{incident_id}"]')
    await expect(candidate.get_by_role("button")).to_be_visible()

    screens = {"calltaker": calltaker, "supervisor": supervisor, "opd": damkar}
    for name, screen in screens.items():
        await shoot(screen, f"{name}-id", docs=True)
    for name, screen in screens.items():
        await screen.page.get_by_role("button", name="EN", exact=True).click()
        await expect(screen.page.locator("html")).to_have_attribute("lang", "en")
        await shoot(screen, f"{name}-en")
    await expect(supervisor.page.locator("#board-title")).to_have_text("Open incidents")
    await expect(card.get_by_role("button", name="En route")).to_be_enabled()

    await page.reload()  # the language choice persists
    await expect(page.locator("#new-call-title")).to_have_text("New call")
    assert_clean(calltaker, damkar, polresta, supervisor)


async def test_a_prank_call_is_closed_with_one_keystroke(
    browser: Browser, server: TestServer, api: Api
) -> None:
    routes = {r.resource.canonical for r in server.app.router.routes() if r.resource}
    if "/api/v1/calls/{id}/outcome" not in routes:
        pytest.skip("the server does not serve POST /api/v1/calls/{id}/outcome yet")
    calltaker = await open_screen(browser, str(server.make_url("/")), "operator1", "/calltaker")
    page = calltaker.page
    await page.get_by_label("Nomor penelepon").fill("081211112222")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("caller-number")).to_be_visible()
    await page.keyboard.press("p")
    await expect(page.locator("#announcer")).to_contain_text("Iseng")
    await expect(page.get_by_test_id("caller-number")).to_have_count(0)
    status, body = await api.get("/api/v1/numbers/081211112222", "supervisor1")
    assert status == 200
    assert body["history"][0]["outcome"] == "prank"
    assert_clean(calltaker)


async def test_the_supervisor_adds_and_cancels_agencies_and_closes_an_incident_from_the_board(
    browser: Browser, server: TestServer, api: Api
) -> None:
    status, incident = await api.post("/api/v1/incidents", "operator1", json=fire())
    assert status == 201
    supervisor = await open_screen(browser, str(server.make_url("/")), "supervisor1", "/supervisor")
    page = supervisor.page
    row = page.locator(f'#board tr[data-incident-id="{incident["id"]}"]')
    await expect(page.locator("#alarms")).to_contain_text(
        f"DAMKAR belum menerima #{incident['id']}"
    )
    await row.get_by_role("button").click()
    selected = page.locator("#selected")
    await selected.get_by_label("Instansi", exact=True).select_option("BPBD")
    await selected.get_by_role("button", name="Tambahkan").click()
    await expect(row).to_contain_text("BPBD")
    await selected.get_by_role("row", name="DINKES").get_by_role("button", name="Batalkan").click()
    await expect(row).not_to_contain_text("DINKES")
    await selected.get_by_label("Alasan penutupan").select_option("unfounded")
    await selected.get_by_role("button", name="Tutup insiden").click()
    await expect(row).to_have_count(0)
    assert_clean(supervisor)


async def test_every_screen_resumes_after_a_server_restart_without_duplicated_or_missing_rows(
    browser: Browser,
    server: TestServer,
    api: Api,
    settings: Settings,
    database_url: str,
    clock: FakeClock,
    rules: RoutingTable,
) -> None:
    base = str(server.make_url("/"))
    screens = {
        "#open-incidents": await open_screen(browser, base, "operator1", "/calltaker"),
        "#board": await open_screen(browser, base, "supervisor1", "/supervisor"),
        "#assignments": await open_screen(browser, base, "damkar", "/opd"),
    }
    status, before = await api.post("/api/v1/incidents", "operator1", json=fire())
    assert status == 201
    for scope, screen in screens.items():
        await expect(
            screen.page.locator(f'{scope} [data-incident-id="{before["id"]}"]')
        ).to_be_visible()
        screen.tolerated = EXPECTED_CONSOLE + RESTART_CONSOLE

    port = server.port
    await server.close()  # shutdown closes every stream with 1001 "going away"
    for screen in screens.values():
        await expect(screen.page.locator("#offline-banner")).to_be_visible()

    app = await create_app(settings, database_url, clock=clock, rules=rules)
    restarted = TestServer(app, host="127.0.0.1", port=port)
    await restarted.start_server()
    try:
        # Opened while the screens are still backing off: they must replay it with ?after=.
        async with ClientSession() as session:
            fresh = Api(api.base, session, api.tokens)
            status, after = await fresh.post("/api/v1/incidents", "operator1", json=fire())
            assert status == 201
        for scope, screen in screens.items():
            await expect(screen.page.locator("#offline-banner")).to_be_hidden(timeout=8000)
            new_row = screen.page.locator(f'{scope} [data-incident-id="{after["id"]}"]')
            await expect(new_row).to_have_count(1)
            assert await count(screen, before["id"], scope) == 1
        assert_clean(*screens.values())
    finally:
        await restarted.close()
