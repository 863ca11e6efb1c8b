"""``python -m dispatch`` / ``dispatch``: serve, migrate, rules, bench-screening.

Reads settings once, starts the embedded PostgreSQL when DATABASE_URL is unset, and hands
over to the app factory; it holds no logic of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import uvloop
from aiohttp import web

from dispatch import store
from dispatch.settings import Settings, SettingsError

log = logging.getLogger("dispatch")


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """Yield a DSN: DATABASE_URL, or the embedded server, stopped again on the way out."""
    if settings.database_url:
        yield settings.database_url
        return
    from dispatch import embedded  # pgserver is only needed without DATABASE_URL

    server = embedded.start(settings.data_dir)
    try:
        yield server.uri()
    finally:
        log.info("stopping embedded PostgreSQL")
        server.stop()


def serve(settings: Settings) -> None:
    from dispatch.app import create_app

    with database(settings) as dsn:
        # uvloop: a faster event loop for asyncpg and the sockets (measured in the bench).
        loop = uvloop.new_event_loop()
        # SIGTERM/SIGINT are handled by run_app: close the sockets, drain the writer, stop.
        web.run_app(
            create_app(settings, dsn),
            loop=loop,
            host=settings.host,
            port=settings.port,
            shutdown_timeout=10,
            access_log=None,
            print=lambda msg: log.info("%s", msg),
            handle_signals=True,
        )


async def _migrate(dsn: str) -> list[str]:
    pool = await store.create_pool(dsn, min_size=1, max_size=1)
    try:
        return await store.migrate(pool)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="dispatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the centre (API, stream, screens)")
    p_serve.add_argument("--host", default=None)
    p_serve.add_argument("--port", type=int, default=None)
    p_serve.add_argument("--data-dir", type=Path, default=None, help="embedded database home")
    p_serve.add_argument("--rules-dir", type=Path, default=None)
    p_serve.add_argument("--demo", action="store_true", help="create the demo accounts")
    p_migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    p_migrate.add_argument("--data-dir", type=Path, default=None)
    sub.add_parser("rules", help="check, explain, diff or bench routing rules", add_help=False)
    sub.add_parser("bench-screening", help="time duplicate screening", add_help=False)

    if argv and argv[0] == "rules":
        from dispatch import rules_cli

        return rules_cli.main(argv[1:])
    if argv and argv[0] == "bench-screening":
        from dispatch import screening_bench

        return screening_bench.main(argv[1:])

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.data_dir is not None:
        settings = replace(settings, data_dir=args.data_dir)
    if args.command == "migrate":
        with database(settings) as dsn:
            applied = asyncio.run(_migrate(dsn))
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
        return 0
    settings = replace(
        settings,
        host=args.host or settings.host,
        port=args.port or settings.port,
        rules_dir=args.rules_dir or settings.rules_dir,
        demo=args.demo,
    )
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
