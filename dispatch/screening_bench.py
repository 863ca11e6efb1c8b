"""Benchmark: time to screen one intake (caller record + duplicate search) against N open incidents.

Seeded: builds its incidents in memory, with the categories' windows from the rule set; it must
not touch the database.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from dispatch.actions import duplicate_settings
from dispatch.routing import DEFAULT_RULES_DIR, RoutingTable
from dispatch.screening import (
    BlockPolicy,
    CallerHistory,
    IncidentIndex,
    OpenIncident,
    Outcome,
    PastCall,
    find_duplicates,
    screen_caller,
)

# Kota Serang's bounding box (kota_serang_boundary.geojson, rounded outwards).
LAT_MIN, LAT_MAX = -6.22, -6.02
LON_MIN, LON_MAX = 106.07, 106.26
NOW = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
# Phones drawn from a small pool so that some intakes hit the same-caller path.
PHONE_POOL = 5000


def _phone(rng: random.Random) -> str:
    return f"+62812{rng.randrange(PHONE_POOL):07d}"


def _history(rng: random.Random, phone: str) -> CallerHistory:
    # Up to 20 earlier calls in the last 30 days, most of them prank/ghost: the Serang mix.
    outcomes = [*Outcome, None]
    calls = tuple(
        PastCall(
            received_at=NOW - timedelta(seconds=rng.uniform(0, 30 * 86400)),
            outcome=rng.choice(outcomes),
            duration_s=rng.uniform(0, 120),
            has_location=rng.random() < 0.5,
        )
        for _ in range(rng.randrange(21))
    )
    return CallerHistory(phone=phone, calls=calls, unblocked_at=None)


def main(argv: list[str]) -> int:
    """Print the median and p99 time to screen one intake; returns the exit status."""
    parser = argparse.ArgumentParser(prog="bench-screening", description=__doc__)
    parser.add_argument("--incidents", type=int, default=10_000, help="open incidents indexed")
    parser.add_argument("--intakes", type=int, default=2_000, help="intakes screened")
    parser.add_argument("--seed", type=int, default=112)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)  # noqa: S311 -- a reproducible benchmark, not a secret
    windows, compatible = duplicate_settings(RoutingTable.load(DEFAULT_RULES_DIR))
    categories = sorted(windows)
    index = IncidentIndex(
        OpenIncident(
            id=i,
            category=rng.choice(categories),
            lat=rng.uniform(LAT_MIN, LAT_MAX),
            lon=rng.uniform(LON_MIN, LON_MAX),
            opened_at=NOW - timedelta(seconds=rng.uniform(0, 6 * 3600)),
            phones=frozenset({_phone(rng)}),
        )
        for i in range(args.incidents)
    )
    policy = BlockPolicy()
    intakes = [
        (
            rng.uniform(LAT_MIN, LAT_MAX),
            rng.uniform(LON_MIN, LON_MAX),
            rng.choice([None, 10.0, 50.0, 300.0]),
            rng.choice(categories),
            _history(rng, _phone(rng)),
        )
        for _ in range(args.intakes)
    ]

    total: list[int] = []
    caller: list[int] = []
    offered = 0
    for lat, lon, accuracy, category, history in intakes:
        t0 = time.perf_counter_ns()
        screen_caller(history, now=NOW, policy=policy)
        t1 = time.perf_counter_ns()
        found = find_duplicates(
            index,
            lat=lat,
            lon=lon,
            accuracy_m=accuracy,
            category=category,
            phone=history.phone,
            now=NOW,
            windows=windows,
            compatible=compatible,
        )
        t2 = time.perf_counter_ns()
        total.append(t2 - t0)
        caller.append(t1 - t0)
        offered += len(found)

    def ms(samples: list[int], q: int) -> str:
        return f"{statistics.quantiles(samples, n=100, method='inclusive')[q - 1] / 1e6:.3f} ms"

    print(f"screening {len(intakes)} intakes against {len(index)} open incidents")
    print(f"  one intake (caller + duplicates): median {ms(total, 50)}, p99 {ms(total, 99)}")
    print(f"  caller record alone:              median {ms(caller, 50)}, p99 {ms(caller, 99)}")
    print(f"  candidates offered per intake:    {offered / len(intakes):.2f} on average")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
