"""The embedded PostgreSQL (``pgserver``'s real binaries), used when DATABASE_URL is unset.

It starts or adopts the server under a data directory and stops it on request; it must not
touch the schema (migrations are the store's job).
"""

from __future__ import annotations

import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil
from pgserver._commands import POSTGRES_BIN_PATH
from pgserver.postgres_server import get_server

log = logging.getLogger(__name__)


class _PgServer(Protocol):
    # pgserver runs postgres as this system user when we are root, else as ourselves (None).
    system_user: str | None

    def get_uri(self, database: str | None = None) -> str: ...
    def cleanup(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Embedded:
    server: _PgServer
    pgdata: Path

    def uri(self) -> str:
        return self.server.get_uri()

    def stop(self) -> None:
        """Stop the cluster, whichever postmaster runs it now.

        pgserver only stops the postmaster it started itself; one restarted by an operator
        (pg_ctl) since then would be left running.
        """
        # pgserver first: it stops the postmaster it knows and keeps its bookkeeping of who
        # uses the cluster. Then pg_ctl, for a postmaster it does not know; a cluster already
        # stopped just makes pg_ctl answer non-zero, which is fine here.
        self.server.cleanup()
        subprocess.run(  # noqa: S603 (the package's own binary on our own data directory)
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "stop"],
            user=self.server.system_user,
            check=False,
            capture_output=True,
            timeout=120,
        )


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


def start(data_dir: Path) -> Embedded:
    """Start (or adopt, after a crash) the cluster in ``data_dir/pg``; creates it if new."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "pg"
    if pgdata.exists():
        _forget_dead_handles(pgdata)
    server: _PgServer = get_server(pgdata, cleanup_mode="stop")
    log.info("embedded PostgreSQL at %s", pgdata)
    return Embedded(server, pgdata)
