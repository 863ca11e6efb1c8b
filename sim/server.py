"""Start, kill and restart a real ``python -m dispatch serve`` subprocess on an embedded database.

Also stops and starts that embedded PostgreSQL with ``pg_ctl`` and runs ``pgbench`` against it.
It drives processes only; it must not import the server package or touch its schema.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from types import TracebackType

# pgserver falls back to /tmp for its lock files when XDG_RUNTIME_DIR is unset; that is fine here.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

from pgserver._commands import POSTGRES_BIN_PATH  # noqa: E402
from pgserver.utils import PostmasterInfo  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO_PASSWORD = os.environ.get("DISPATCH_DEMO_PASSWORD") or "demo112"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_user() -> str | None:
    """pgserver runs PostgreSQL as the system user ``pgserver`` when we are root."""
    return "pgserver" if os.geteuid() == 0 else None


class ServerProcess:
    """One dispatch server on 127.0.0.1 with its own embedded cluster under ``data_dir``."""

    def __init__(
        self,
        data_dir: Path | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dispatch-sim-")
            data_dir = Path(self._tmp.name)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.pgdata = data_dir.resolve() / "pg"
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        base_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.env = {**base_env, "DISPATCH_DEMO_PASSWORD": DEMO_PASSWORD, **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), self.env.get("PYTHONPATH", "")) if p
        )
        self.log_path = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # --- the dispatch process ---------------------------------------------------------------

    def start(self, timeout: float = 90) -> float:
        """Start the server and wait for /readyz; returns the seconds it took."""
        started = time.monotonic()
        cmd = [
            sys.executable,
            "-m",
            "dispatch",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--demo",
        ]
        with self.log_path.open("ab") as log:
            # Our own interpreter and argv list, no shell: nothing untrusted reaches the command.
            self.proc = subprocess.Popen(  # noqa: S603
                cmd, cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log_tail()}")
            if self.ready():
                return time.monotonic() - started
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/readyz", timeout=1) as resp:  # noqa: S310
                return int(resp.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup; the embedded PostgreSQL keeps running."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> int | None:
        """SIGTERM: the server drains and stops its embedded PostgreSQL itself.

        Returns the exit status (None if it was not running; -9 if it had to be killed).
        """
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        self.proc = None
        return code

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the embedded PostgreSQL ------------------------------------------------------------

    def _postmaster(self) -> PostmasterInfo | None:
        return PostmasterInfo.read_from_pgdata(self.pgdata)

    def pg_running(self) -> bool:
        info = self._postmaster()
        return info is not None and bool(info.is_running())

    def dsn(self) -> str:
        info = self._postmaster()
        if info is None:
            raise RuntimeError(f"no running PostgreSQL under {self.pgdata}")
        return str(info.get_uri())

    def _socket_dir(self) -> str:
        info = self._postmaster()
        return str(info.socket_dir) if info is not None and info.socket_dir else str(self.pgdata)

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 (pgserver's own binary, argv list, no shell)
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), *args],
            check=True,
            capture_output=True,
            user=_pg_user(),
            timeout=60,
        )

    def pg_stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")

    def pg_start(self, socket_dir: str) -> None:
        """Start the cluster the way pgserver does: unix socket only, log in the data dir."""
        self._pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(self.pgdata / "log"), "start"
        )

    def pg_restart_after(self, outage_s: float) -> float:
        """Stop PostgreSQL, stay down ``outage_s``, start again; returns the real outage."""
        socket_dir = self._socket_dir()
        down = time.monotonic()
        self.pg_stop()
        time.sleep(outage_s)
        self.pg_start(socket_dir)
        return time.monotonic() - down

    def psql(self, sql: str) -> str:
        out = subprocess.run(  # noqa: S603 (pgserver's own binary, argv list, no shell)
            [str(POSTGRES_BIN_PATH / "psql"), self.dsn(), "-q", "-A", "-t", "-c", sql],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout

    def pgbench_insert(self, seconds: float, clients: int = 8, threads: int = 2) -> float:
        """TPS of a one-row INSERT (the baseline for the intake benchmark) on this database."""
        self.psql("CREATE TABLE IF NOT EXISTS sim_bench (x integer)")
        script = self.data_dir / "sim_bench.sql"
        script.write_text("INSERT INTO sim_bench (x) VALUES (1);\n")
        try:
            out = subprocess.run(  # noqa: S603 (pgserver's own binary, argv list, no shell)
                [
                    str(POSTGRES_BIN_PATH / "pgbench"),
                    "-n",
                    "-f",
                    str(script),
                    "-c",
                    str(clients),
                    "-j",
                    str(threads),
                    "-T",
                    str(max(1, round(seconds))),
                    self.dsn(),
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=seconds + 60,
            )
        finally:
            # Flush pgbench's WAL now, so that its checkpoint does not land in the next test.
            self.psql("DROP TABLE IF EXISTS sim_bench")
            self.psql("CHECKPOINT")
        for line in out.stdout.splitlines():
            if line.startswith("tps = "):
                return float(line.split()[2])
        raise RuntimeError(f"pgbench printed no tps:\n{out.stdout}\n{out.stderr}")
