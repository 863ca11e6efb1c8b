"""The embedded PostgreSQL (``pgserver``'s real binaries), used when DATABASE_URL is unset.

It starts or adopts the server under a data directory and stops it on request; it must not
touch the schema (migrations are the store's job).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol

import psutil
from pgserver.postgres_server import get_server

log = logging.getLogger(__name__)


class EmbeddedServer(Protocol):
    def get_uri(self, database: str | None = None) -> str: ...
    def cleanup(self) -> None: ...


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that died without cleaning up (kill -9) from pgserver's handle list.

    pgserver stops the server only when the last live handle closes; a dead process left in its
    list would keep a clean shutdown after a crash from ever stopping PostgreSQL.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    pids = json.loads(handles.read_text())
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def start(data_dir: Path) -> EmbeddedServer:
    """Start (or adopt, after a crash) the cluster in ``data_dir/pg``; creates it if new."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "pg"
    if pgdata.exists():
        _forget_dead_handles(pgdata)
    server: EmbeddedServer = get_server(pgdata, cleanup_mode="stop")
    log.info("embedded PostgreSQL at %s", pgdata)
    return server
