"""Acknowledge deadlines, escalation levels and board timers, read from ``deadlines.toml``.

Pure: it says when an assignment is due and what level that is; it must not read the clock,
sleep or touch the database (the watcher in ``actions`` does that).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from dispatch.incidents import JSONObject

DEADLINES_FILE = "deadlines.toml"
PRIORITIES = (1, 2, 3, 4)
TIMER_STATES = ("dispatched", "acknowledged", "en_route", "on_scene")
# Level 1: overdue (supervisor alarm, agency re-alerted); level 2: escalated to the fallback.
OVERDUE, ESCALATED = 1, 2


class DeadlinesError(ValueError):
    """The deadlines file is invalid; the message names each problem."""


@dataclass(frozen=True, slots=True)
class Timer:
    warn_s: int
    alert_s: int


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    acknowledge_s: Mapping[int, int]
    escalate_after_s: Mapping[int, int]
    category_acknowledge_s: Mapping[str, Mapping[int, int]]
    timers: Mapping[str, Timer]

    @classmethod
    def load(cls, directory: Path, categories: Mapping[str, object]) -> DeadlinePolicy:
        """Read and check ``deadlines.toml``; unknown categories and gaps are errors."""
        path = directory / DEADLINES_FILE
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DeadlinesError(f"{DEADLINES_FILE}: cannot read: {exc}") from None
        problems: list[str] = []
        acknowledge = _seconds_by_priority(data.get("acknowledge_s"), "acknowledge_s", problems)
        escalate = _seconds_by_priority(data.get("escalate_after_s"), "escalate_after_s", problems)
        overrides: dict[str, dict[int, int]] = {}
        raw_categories = data.get("category", {})
        if not isinstance(raw_categories, dict):
            problems.append("category: must be a table")
            raw_categories = {}
        for code, table in raw_categories.items():
            if code not in categories:
                problems.append(f"category.{code}: unknown category")
                continue
            where = f"category.{code}.acknowledge_s"
            raw = table.get("acknowledge_s") if isinstance(table, dict) else None
            overrides[code] = _seconds_by_priority(raw, where, problems, complete=False)
        timers: dict[str, Timer] = {}
        raw_timers = data.get("timers", {})
        for state in TIMER_STATES:
            t = raw_timers.get(state) if isinstance(raw_timers, dict) else None
            warn = t.get("warn_s") if isinstance(t, dict) else None
            alert = t.get("alert_s") if isinstance(t, dict) else None
            if not (isinstance(warn, int) and isinstance(alert, int) and 0 < warn < alert):
                problems.append(f"timers.{state}: needs warn_s < alert_s, both whole seconds > 0")
                continue
            timers[state] = Timer(warn, alert)
        if problems:
            raise DeadlinesError("\n".join(f"{DEADLINES_FILE}: {p}" for p in problems))
        return cls(acknowledge, escalate, overrides, timers)

    def acknowledge_within(self, priority: int, category: str) -> int:
        return self.category_acknowledge_s.get(category, {}).get(
            priority, self.acknowledge_s[priority]
        )

    def next_due(
        self, dispatched_at: datetime, priority: int, category: str, level: int
    ) -> tuple[datetime, int] | None:
        """When the next escalation level falls due for an unacknowledged assignment."""
        ack = timedelta(seconds=self.acknowledge_within(priority, category))
        if level < OVERDUE:
            return dispatched_at + ack, OVERDUE
        if level < ESCALATED:
            return dispatched_at + ack + timedelta(
                seconds=self.escalate_after_s[priority]
            ), ESCALATED
        return None

    def dump(self) -> JSONObject:
        """For the screens: deadlines and timer thresholds, to colour ages consistently."""
        return {
            "acknowledge_s": {str(p): s for p, s in self.acknowledge_s.items()},
            "escalate_after_s": {str(p): s for p, s in self.escalate_after_s.items()},
            "category_acknowledge_s": {
                code: {str(p): s for p, s in by.items()}
                for code, by in self.category_acknowledge_s.items()
            },
            "timers": {
                state: {"warn_s": t.warn_s, "alert_s": t.alert_s}
                for state, t in self.timers.items()
            },
        }


def _seconds_by_priority(
    raw: object, where: str, problems: list[str], *, complete: bool = True
) -> dict[int, int]:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a table of priority = seconds")
        return {}
    out: dict[int, int] = {}
    for key, value in raw.items():
        if key not in {str(p) for p in PRIORITIES}:
            problems.append(f"{where}.{key}: priority must be 1 .. 4")
        elif isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problems.append(f"{where}.{key}: must be whole seconds > 0")
        else:
            out[int(key)] = value
    if complete:
        for p in PRIORITIES:
            if p not in out and not any(f"{where}.{p}:" in x for x in problems):
                problems.append(f"{where}: priority {p} has no deadline")
    return out
