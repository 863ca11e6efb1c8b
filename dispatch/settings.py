"""Settings read once from the environment (and the command line), cast, and frozen.

A bad value fails fast at start-up naming the variable; nothing else reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from dispatch.screening import BlockPolicy

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class SettingsError(ValueError):
    pass


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be from {low} to {high}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    # None: start the embedded PostgreSQL (pgserver) under data_dir.
    database_url: str | None
    data_dir: Path
    rules_dir: Path
    host: str = "127.0.0.1"
    port: int = 8112
    demo: bool = False
    demo_password: str = "demo112"  # noqa: S105 (the documented demo password, DESIGN §5)
    # A shift is 8 h in Serang's 3-shift roster; a token outlives one shift with margin.
    token_ttl: timedelta = timedelta(hours=12)
    # Per-socket bound: ~1,000 events is minutes of a flood for one agency; past it the
    # socket resyncs from the log instead of holding memory for a screen that cannot keep up.
    stream_queue_size: int = 1000
    # Group commit: at most this many changes share one transaction under load.
    max_batch: int = 64
    pool_size: int = 10
    block_policy: BlockPolicy = field(default_factory=BlockPolicy)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        rules = env.get("DISPATCH_RULES_DIR") or str(PROJECT_ROOT / "routing_rules")
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            data_dir=Path(env.get("DISPATCH_DATA_DIR") or "./var"),
            rules_dir=Path(rules),
            demo_password=env.get("DISPATCH_DEMO_PASSWORD") or "demo112",
            token_ttl=timedelta(
                seconds=_int(env, "DISPATCH_TOKEN_TTL_S", 12 * 3600, 60, 7 * 24 * 3600)
            ),
            stream_queue_size=_int(env, "DISPATCH_STREAM_QUEUE", 1000, 10, 1_000_000),
            max_batch=_int(env, "DISPATCH_MAX_BATCH", 64, 1, 1000),
            pool_size=_int(env, "DISPATCH_POOL_SIZE", 10, 2, 100),
            block_policy=BlockPolicy(
                day_limit=_int(env, "DISPATCH_BLOCK_DAY_LIMIT", 5, 1, 1000),
                month_limit=_int(env, "DISPATCH_BLOCK_MONTH_LIMIT", 10, 1, 10_000),
                block_for=timedelta(hours=_int(env, "DISPATCH_BLOCK_HOURS", 24, 1, 24 * 365)),
            ),
        )
