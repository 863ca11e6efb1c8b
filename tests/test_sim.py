"""The simulator, the benchmark and the chaos run work end to end and report consistently.

Short runs only, each against its own real server; no timing target is ever asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from shapely import Point

from sim import scenario

ROOT = Path(__file__).resolve().parents[1]


def run_sim(*args: str, timeout: float = 100) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def test_the_same_seed_gives_the_same_day_and_mostly_non_emergency_calls() -> None:
    zones = scenario.load_zones()
    first = scenario.day(zones, seed=9)
    assert first == scenario.day(zones, seed=9)
    assert first != scenario.day(zones, seed=10)
    kinds = Counter(c.kind for c in first.calls)
    assert 200 < len(first.calls) < 600
    assert 0.5 <= 100 * kinds["real"] / len(first.calls) <= 5
    assert [c.at_s for c in first.calls] == sorted(c.at_s for c in first.calls)
    by_code = {z.kode: z for z in zones}
    noise = [c for c in first.calls if c.kind != "real"]  # real callers stand near their event
    assert all(by_code[c.zone].geometry.distance(Point(c.lon, c.lat)) < 1e-5 for c in noise)


def test_the_flood_puts_three_hundred_calls_on_kasemen_within_ten_minutes() -> None:
    flood = scenario.flood(scenario.load_zones(), seed=1)
    kasemen = [c for c in flood.calls if c.kind == "real" and c.zone_name == "Kasemen"]
    assert len(kasemen) >= 290
    assert {c.category for c in kasemen} >= {"banjir"}
    assert len({c.event for c in kasemen}) < 30  # a few spots, many callers each


def test_a_short_flood_run_accounts_for_every_call(tmp_path: Path) -> None:
    out, page = tmp_path / "run.json", tmp_path / "run.html"
    done = run_sim(
        "run", "--scenario", "flood", "--speed", "3000", "--calltakers", "8", "--seed", "4",
        "--json", str(out), "--html", str(page), "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    s = load(out)
    calls = s["calls"]
    assert calls["total"] == sum(calls["by_truth"].values()) == sum(calls["by_action"].values())
    assert "pending" not in calls["by_action"]
    assert "failed" not in calls["by_action"]
    real = calls["by_truth"]["real"]
    assert s["incidents"]["opened"] + s["duplicates"]["attached"] == real
    assert s["incidents"]["opened"] >= s["incidents"]["real_events"] > 0
    assert set(s["kpi"]) == {"answer", "processing", "acknowledge", "fire_response"}
    latency = s["intake_to_push_ms"]
    assert latency["n"] == sum(b["count"] for b in latency["histogram"]) > 0
    assert "<svg" in page.read_text()


def test_a_quick_bench_reports_the_documented_keys(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = run_sim("bench", "--quick", "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    b = load(out)
    for key in ("p50_ms_at_200", "p99_ms_at_200", "max_sustained_per_s", "pgbench_tps", "ratio"):
        assert key in b
    assert b["cores"] == os.cpu_count()
    assert b["pgbench_tps"] > 0
    assert b["ratio"] == round(b["max_sustained_per_s"] / b["pgbench_tps"], 4)
    assert b["steps"]
    for step in [b["fixed_200"], *b["steps"]]:
        assert step["sent"] == round(step["offered_per_s"] * step["duration_s"])
        assert sum(step["statuses"].values()) == step["sent"]
    assert "offered/s" in done.stdout


def test_a_short_chaos_run_loses_nothing_and_delivers_every_event_once(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    done = run_sim("chaos", "--quick", "--json", str(out))
    c = load(out)
    assert c["acknowledged"] > 0, done.stderr[-3000:]
    assert c["lost"] == 0
    assert c["gaps"] == 0
    assert c["duplicates"] == 0
    assert c["out_of_order"] == 0
    assert {"outage_s", "http_503", "faults", "clients"} <= set(c)
    assert set(c["clients"]) == {"damkar", "polresta", "dinkes", "pln", "supervisor1"}
    assert all(client["connects"] >= 2 for client in c["clients"].values())  # they reconnected
