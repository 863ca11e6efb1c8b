"""KPI arithmetic on hand-made numbers, checked by hand; deadline policy loading and due times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatch.deadlines import DeadlinePolicy, DeadlinesError
from dispatch.kpis import AssignmentTimes, compliance, dispatch_summary, percentile, summary
from tests.conftest import ROOT

RULES = ROOT / "routing_rules"
CATEGORIES = {"kebakaran": None, "medis": None}


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 50, None),
        ([7.0], 90, 7.0),
        # Nearest rank: ceil(0.5 * 10) = 5th value; ceil(0.9 * 10) = 9th value.
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50, 5),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90, 9),
        ([10, 1, 9, 2, 8, 3, 7, 4, 6, 5], 90, 9),
        # ceil(0.9 * 11) = 10th of 11.
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90, 10),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], p: float, expected: float | None) -> None:
    assert percentile(values, p) == expected


def test_compliance_counts_values_at_or_below_the_target() -> None:
    assert compliance([10, 15, 15.1, 20], 15) == 50.0
    assert compliance([], 15) is None


def test_processing_summary_against_nfpa_1225_by_hand() -> None:
    # 10 incidents: 8 processed within 60 s, 2 slower -> 80% < 90% required.
    values = [20, 25, 30, 35, 40, 45, 50, 60, 75, 120]
    got = summary(values, (60.0, 90.0))
    assert got == {
        "n": 10,
        "p50_s": 40.0,
        "p90_s": 75.0,
        "target_s": 60.0,
        "target_pct": 90.0,
        "compliance_pct": 80.0,
        "meets_target": False,
    }


def test_acknowledge_compliance_counts_late_and_unacknowledged_as_missed() -> None:
    times = [
        AssignmentTimes("DAMKAR", "kebakaran", 10, 300, 900, deadline_s=30),
        AssignmentTimes("DAMKAR", "kebakaran", 30, None, None, deadline_s=30),
        AssignmentTimes("DAMKAR", "kebakaran", 45, 600, None, deadline_s=30),
        AssignmentTimes("DINKES", "kebakaran", None, None, None, deadline_s=30),
    ]
    got = dispatch_summary(times)
    assert got["acknowledge"]["dispatched"] == 4
    assert got["acknowledge"]["n"] == 3
    assert got["acknowledge"]["within_deadline_pct"] == 50.0
    assert got["acknowledge"]["p50_s"] == 30.0
    assert got["response"] == {"n": 2, "p50_s": 300.0, "p90_s": 600.0}


def test_deadline_policy_gives_category_overrides_and_both_levels() -> None:
    policy = DeadlinePolicy.load(RULES, CATEGORIES)
    t0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert policy.acknowledge_within(1, "kebakaran") == 30
    assert policy.acknowledge_within(2, "kebakaran") == 45
    assert policy.acknowledge_within(2, "medis") == 60
    assert policy.next_due(t0, 1, "kebakaran", 0) == (t0 + timedelta(seconds=30), 1)
    assert policy.next_due(t0, 1, "kebakaran", 1) == (t0 + timedelta(seconds=60), 2)
    assert policy.next_due(t0, 1, "kebakaran", 2) is None


VALID = """
[acknowledge_s]
1 = 30
2 = 60
3 = 180
4 = 600
[escalate_after_s]
1 = 30
2 = 60
3 = 300
4 = 900
[timers.dispatched]
warn_s = 30
alert_s = 60
[timers.acknowledged]
warn_s = 120
alert_s = 300
[timers.en_route]
warn_s = 600
alert_s = 900
[timers.on_scene]
warn_s = 3600
alert_s = 7200
"""


def test_a_minimal_deadlines_file_loads(tmp_path: Path) -> None:
    (tmp_path / "deadlines.toml").write_text(VALID)
    assert DeadlinePolicy.load(tmp_path, CATEGORIES).acknowledge_within(4, "medis") == 600


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("2 = 60\n3 = 180", "3 = 180", "acknowledge_s: priority 2 has no deadline"),
        ("1 = 30\n2 = 60\n3 = 180", "1 = 0\n2 = 60\n3 = 180", "acknowledge_s.1: must be"),
        (
            "[timers.dispatched]",
            "[category.gempa.acknowledge_s]\n1 = 5\n[timers.dispatched]",
            "category.gempa: unknown category",
        ),
        ("warn_s = 600\nalert_s = 900", "warn_s = 900\nalert_s = 600", "timers.en_route: needs"),
    ],
)
def test_bad_deadlines_file_is_refused_naming_the_problem(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in VALID
    (tmp_path / "deadlines.toml").write_text(VALID.replace(old, new, 1))
    with pytest.raises(DeadlinesError, match=message):
        DeadlinePolicy.load(tmp_path, CATEGORIES)
