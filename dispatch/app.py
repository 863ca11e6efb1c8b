"""The one app factory: connect, migrate, load rules, start the writer, wire routes and screens.

Wiring only; no request handling and no SQL here. Everything it builds is reachable through
``web.CTX`` so that handlers never touch globals.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime

import xstatic.pkg.leaflet
from aiohttp import WSCloseCode, web

from dispatch import actions, store
from dispatch import web as edge
from dispatch.deadlines import DeadlinePolicy
from dispatch.hub import Hub
from dispatch.metrics import Metrics
from dispatch.routing import RoutingTable
from dispatch.settings import PROJECT_ROOT, Settings

CONSOLE_DIR = PROJECT_ROOT / "console_ui"
log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


async def create_app(
    settings: Settings,
    database_url: str,
    *,
    clock: Callable[[], datetime] = utcnow,
    rules: RoutingTable | None = None,
) -> web.Application:
    """Build a ready app: the database is migrated and the rules are valid before it serves.

    ``rules`` is a rule set already loaded from ``settings.rules_dir`` (tests share one).
    """
    if rules is None:
        rules = await asyncio.to_thread(actions.load_rules, settings.rules_dir)
    pool = await store.create_pool(database_url, min_size=2, max_size=settings.pool_size)
    try:
        await store.migrate(pool)
    except BaseException:
        await pool.close()
        raise
    metrics = Metrics()
    hub = Hub(queue_size=settings.stream_queue_size)
    db = store.Store(pool)
    open_incidents = actions.OpenIncidents()
    open_incidents.load(await db.list_open_for_index())
    # Pending deadlines are rebuilt from the database: they survive any restart.
    deadlines = actions.DeadlineWatch(DeadlinePolicy.load(settings.rules_dir, rules.categories))
    for incident in await db.list_open_incidents(None):
        deadlines.schedule(incident)
    writer = actions.Writer(
        db,
        [hub.publish, open_incidents.apply, deadlines.apply],
        metrics,
        max_batch=settings.max_batch,
    )
    ctx = actions.Ctx(
        settings=settings,
        store=db,
        writer=writer,
        hub=hub,
        metrics=metrics,
        rules=rules,
        clock=clock,
        open_incidents=open_incidents,
        deadlines=deadlines,
    )
    if settings.demo:
        await actions.ensure_demo_accounts(ctx)

    app = web.Application(middlewares=[edge.error_middleware], client_max_size=edge.MAX_BODY)
    app[edge.CTX] = ctx
    sockets: set[web.WebSocketResponse] = set()
    app[edge.SOCKETS] = sockets
    app[edge.OPENAPI] = edge.openapi_document()
    edge.add_routes(app)
    edge.add_console(app, CONSOLE_DIR, xstatic.pkg.leaflet.BASE_DIR)

    watcher: list[asyncio.Task[None]] = []

    async def start(_: web.Application) -> None:
        await writer.start()
        watcher.append(asyncio.create_task(actions.watch_deadlines(ctx), name="deadlines"))
        # SIGHUP reloads the rules, as for other daemons; a bad set is refused and logged.
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_on_sighup)

    def reload_on_sighup() -> None:
        watcher.append(asyncio.create_task(sighup_reload(), name="rules-reload"))

    async def sighup_reload() -> None:
        try:
            previous, version = await actions.reload_rules(ctx, None)
            log.info("rules reloaded on SIGHUP: %s -> %s", previous, version)
        except actions.RulesRefused as exc:
            log.error(
                "rules reload refused, %s stays: %s", ctx.rules.version, "; ".join(exc.problems)
            )

    async def shutdown(_: web.Application) -> None:
        # Screens are told "going away" and will resume with ?after= against the next process.
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        for ws in list(sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        for task in watcher:
            task.cancel()
        await asyncio.gather(*watcher, return_exceptions=True)
        await writer.stop()

    async def cleanup(_: web.Application) -> None:
        await pool.close()

    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    return app
