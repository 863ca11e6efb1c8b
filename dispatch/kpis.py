"""Service KPIs against the standards: percentiles and compliance from recorded timestamps.

Pure arithmetic on durations the store measured from real timestamps; a step that was never
recorded is missing, never estimated. It must not read the clock or the database.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dispatch.incidents import JSON, JSONObject

# NENA-STA-020.1: 90% of calls answered within 15 s and 95% within 20 s.
ANSWER_TARGETS = ((15.0, 90.0), (20.0, 95.0))
# NFPA 1225: 90% of calls processed (answer -> first agency notified) within 60 s.
PROCESSING_TARGET = (60.0, 90.0)
# Permendagri 114/2018: the fire service on scene within 15 min. Measured from dispatch, the
# first moment the fire service knows; the minimum service standard counts it as 100%.
FIRE_RESPONSE_TARGET = (15 * 60.0, 100.0)
FIRE_CATEGORY = "kebakaran"


@dataclass(frozen=True, slots=True)
class AssignmentTimes:
    """One dispatch's measured steps, in seconds from dispatch; None where not reached."""

    agency: str
    category: str
    acknowledge_s: float | None
    response_s: float | None
    resolution_s: float | None
    # The acknowledge deadline that applied (deadlines.toml), for compliance.
    deadline_s: float


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def compliance(values: Sequence[float], target_s: float) -> float | None:
    """Percent of values within the target (at or below it)."""
    if not values:
        return None
    return round(100 * sum(v <= target_s for v in values) / len(values), 1)


def summary(values: Sequence[float], target: tuple[float, float] | None = None) -> JSONObject:
    """n, P50/P90 and, with a target (seconds, required percent), compliance and the verdict."""
    p50, p90 = percentile(values, 50), percentile(values, 90)
    out: JSONObject = {
        "n": len(values),
        "p50_s": round(p50, 1) if p50 is not None else None,
        "p90_s": round(p90, 1) if p90 is not None else None,
    }
    if target is not None:
        target_s, required = target
        share = compliance(values, target_s)
        out |= {
            "target_s": target_s,
            "target_pct": required,
            "compliance_pct": share,
            "meets_target": share >= required if share is not None else None,
        }
    return out


def answer_summary(values: Sequence[float]) -> JSONObject:
    """Answer times have two NENA targets; the first is the headline figure."""
    out = summary(values, ANSWER_TARGETS[0])
    second_s, second_pct = ANSWER_TARGETS[1]
    share = compliance(values, second_s)
    out["also"] = {
        "target_s": second_s,
        "target_pct": second_pct,
        "compliance_pct": share,
        "meets_target": share >= second_pct if share is not None else None,
    }
    return out


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def dispatch_summary(times: Sequence[AssignmentTimes]) -> JSONObject:
    """Acknowledge, response and resolution of a set of dispatches."""
    acknowledged = _present(t.acknowledge_s for t in times)
    # Compliance with each dispatch's own deadline: late or never acknowledged both miss it.
    on_time = sum(t.acknowledge_s is not None and t.acknowledge_s <= t.deadline_s for t in times)
    ack = summary(acknowledged)
    ack["dispatched"] = len(times)
    ack["within_deadline_pct"] = round(100 * on_time / len(times), 1) if times else None
    return {
        "acknowledge": ack,
        "response": summary(_present(t.response_s for t in times)),
        "resolution": summary(_present(t.resolution_s for t in times)),
    }


def report(
    answer: Sequence[float],
    processing: Sequence[tuple[str, float]],
    dispatches: Sequence[AssignmentTimes],
    outcomes_by_hour: JSONObject,
) -> JSONObject:
    """The whole KPI report: centre-wide, per agency and per category."""
    by_agency: dict[str, list[AssignmentTimes]] = defaultdict(list)
    by_category: dict[str, list[AssignmentTimes]] = defaultdict(list)
    for t in dispatches:
        by_agency[t.agency].append(t)
        by_category[t.category].append(t)
    processing_by_category: dict[str, list[float]] = defaultdict(list)
    for category, seconds in processing:
        processing_by_category[category].append(seconds)
    fire = [t.response_s for t in by_category.get(FIRE_CATEGORY, []) if t.agency == "DAMKAR"]
    categories: dict[str, JSON] = {
        code: {
            **dispatch_summary(group),
            "processing": summary(processing_by_category.get(code, []), PROCESSING_TARGET),
        }
        for code, group in sorted(by_category.items())
    }
    return {
        "answer": answer_summary(answer),
        "processing": summary([s for _, s in processing], PROCESSING_TARGET),
        **dispatch_summary(dispatches),
        "fire_response": summary(_present(fire), FIRE_RESPONSE_TARGET),
        "by_agency": {code: dispatch_summary(g) for code, g in sorted(by_agency.items())},
        "by_category": categories,
        "outcomes_by_hour": outcomes_by_hour,
    }
