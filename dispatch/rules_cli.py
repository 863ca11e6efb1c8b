"""`python -m dispatch rules check|explain|diff|bench`: operate on a routing rule set.
Only parses arguments, reads files and prints; every decision comes from `dispatch.routing`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dispatch.routing import (
    DEFAULT_RULES_DIR,
    WIB,
    Role,
    Route,
    RoutingTable,
    RulesError,
    UnknownCategory,
    ZoneKind,
)

# How many changed incidents `diff` prints as examples after its counts.
DIFF_EXAMPLES = 10


def main(argv: list[str]) -> int:
    """Run one `rules` subcommand; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="dispatch rules", description="Check, explain, compare and time routing rules."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate a rule set")
    check.add_argument("dir", nargs="?", type=Path, help="rule-set directory")
    check.set_defaults(run=_check)

    explain = sub.add_parser("explain", help="show how one incident would be routed")
    explain.add_argument("--lat", type=float, required=True)
    explain.add_argument("--lon", type=float, required=True)
    explain.add_argument("--category", required=True)
    explain.add_argument("--priority", type=int, choices=(1, 2, 3, 4))
    explain.add_argument(
        "--at", type=_parse_at, help="ISO time (default now; without offset it is WIB)"
    )
    explain.add_argument("dir", nargs="?", type=Path, help="rule-set directory")
    explain.set_defaults(run=_explain)

    diff = sub.add_parser("diff", help="replay past incidents against two rule sets")
    diff.add_argument("old", type=Path, help="current rule-set directory")
    diff.add_argument("new", type=Path, help="proposed rule-set directory")
    diff.add_argument(
        "--incidents",
        type=Path,
        required=True,
        help="JSONL or CSV with lat, lon, category, at (and optional priority)",
    )
    diff.set_defaults(run=_diff)

    bench = sub.add_parser("bench", help="time route() over random points in the city")
    bench.add_argument("--n", type=int, default=100_000, help="lookups (default 100000)")
    bench.add_argument("--seed", type=int, default=112)
    bench.add_argument("dir", nargs="?", type=Path, help="rule-set directory")
    bench.set_defaults(run=_bench)

    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


def _rules_dir(given: Path | None) -> Path:
    if given is not None:
        return given
    return Path(os.environ.get("DISPATCH_RULES_DIR") or DEFAULT_RULES_DIR)


def _load(directory: Path) -> RoutingTable | None:
    try:
        return RoutingTable.load(directory)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"rules: {len(exc.problems)} problem(s) in {directory}", file=sys.stderr)
        return None


def _parse_at(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    # The call centre speaks WIB; an offset-less time typed by an operator means WIB.
    return at if at.tzinfo is not None else at.replace(tzinfo=WIB)


def _check(args: argparse.Namespace) -> int:
    directory = _rules_dir(args.dir)
    table = _load(directory)
    if table is None:
        return 1
    kinds = Counter(zone.kind for zone in table.zones.values())
    posts = sum(len(a.posts) for a in table.agencies.values())
    units = sum(len(a.units) for a in table.agencies.values())
    print(
        f"ok {table.version}: {len(table.rules)} rules, {len(table.categories)} categories, "
        f"{len(table.agencies)} agencies ({posts} posts, {units} units), "
        f"{kinds[ZoneKind.KELURAHAN]} kelurahan, {kinds[ZoneKind.KECAMATAN]} kecamatan, "
        f"{kinds[ZoneKind.NEIGHBOUR]} neighbouring kecamatan, "
        f"{kinds[ZoneKind.SPECIAL]} special zones ({directory})"
    )
    return 0


def _explain(args: argparse.Namespace) -> int:
    table = _load(_rules_dir(args.dir))
    if table is None:
        return 1
    at: datetime = args.at or datetime.now(UTC)
    try:
        route = table.route(args.lat, args.lon, args.category, now=at, priority=args.priority)
    except UnknownCategory as exc:
        print(f"rules explain: {exc}; known: {', '.join(table.categories)}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"rules explain: {exc}", file=sys.stderr)
        return 2
    rule = next(r for r in table.rules if r.id == route.rule_id)
    category = table.categories[args.category]
    priority = args.priority or category.priority
    print(f"point:     {args.lat}, {args.lon} at {at.astimezone(WIB).isoformat()} (WIB)")
    print(f"category:  {category.code} ({category.name_en}), priority {priority}")
    if route.out_of_area:
        print(f"zone:      out of area; hand over: {route.handover}")
    else:
        kecamatan = table.zones[str(route.kecamatan)].name
        print(f"zone:      {route.zone} {route.zone_name} (Kec. {kecamatan} {route.kecamatan})")
    if route.special_zones:
        names = (f"{z} ({table.zones[z].name})" for z in route.special_zones)
        print(f"special:   {', '.join(names)}")
    print(f"rule:      {route.rule_id}: {rule.description}")
    print(f"rule set:  {route.ruleset_version}")
    for n, choice in enumerate(route.agencies):
        label = "agencies:" if n == 0 else ""
        name = table.agencies[choice.agency].name_en
        print(f"{label:<10} {choice.agency:<9} {choice.role:<8} {name}")
    if not route.units:
        print("units:     none free")
    for n, unit in enumerate(route.units):
        label = "units:" if n == 0 else ""
        print(
            f"{label:<10} {unit.unit_id:<14} {unit.agency:<9} {unit.unit_type:<22} "
            f"from {unit.post}: {unit.distance_m} m, ETA {_minutes(unit.eta_s)}"
        )
    print(
        f"           (straight-line distance x road factor {table.road_factor} "
        f"at {table.speed_kmh:g} km/h)"
    )
    return 0


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min {seconds % 60:02d} s"


@dataclass(frozen=True, slots=True)
class _Incident:
    line: int
    lat: float
    lon: float
    category: str
    at: datetime
    priority: int | None


def _read_incidents(path: Path) -> Iterator[_Incident]:
    """Incidents from a CSV (header row) or JSONL file; raises ValueError naming the line."""
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".csv":
            rows: Iterator[tuple[int, object]] = (
                (n, row) for n, row in enumerate(csv.DictReader(handle), start=2)
            )
        else:
            rows = ((n, json.loads(text)) for n, text in enumerate(handle, start=1) if text.strip())
        for line, row in rows:
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{line}: not an object")
            try:
                priority = row.get("priority")
                yield _Incident(
                    line,
                    float(row["lat"]),
                    float(row["lon"]),
                    str(row["category"]),
                    _parse_at(str(row["at"])),
                    int(priority) if priority not in (None, "") else None,
                )
            except (KeyError, ValueError, TypeError, argparse.ArgumentTypeError) as exc:
                raise ValueError(f"{path}:{line}: {exc!r}") from exc


def _describe(route: Route) -> str:
    agencies = "+".join(c.agency + ("*" if c.role is Role.PRIMARY else "") for c in route.agencies)
    return f"{agencies} [{route.rule_id}]"


def _zone_label(route: Route) -> str:
    if route.out_of_area:
        return f"out of area ({route.handover})"
    return f"{route.zone} {route.zone_name}"


def _diff(args: argparse.Namespace) -> int:
    old, new = _load(args.old), _load(args.new)
    if old is None or new is None:
        return 1
    try:
        incidents = list(_read_incidents(args.incidents))
    except (OSError, ValueError) as exc:
        print(f"rules diff: {exc}", file=sys.stderr)
        return 2
    total: Counter[str] = Counter()
    moved: Counter[str] = Counter()
    zone_total: Counter[str] = Counter()
    zone_moved: Counter[str] = Counter()
    primary_changed = 0
    unroutable = Counter[str]()
    examples: list[str] = []
    for incident in incidents:
        routes: list[Route] = []
        for side, table in (("old", old), ("new", new)):
            try:
                routes.append(
                    table.route(
                        incident.lat,
                        incident.lon,
                        incident.category,
                        now=incident.at,
                        priority=incident.priority,
                    )
                )
            except ValueError:  # UnknownCategory too: the category exists on one side only
                unroutable[side] += 1
        if len(routes) != 2:
            continue
        before, after = routes
        zone = _zone_label(before)
        total[incident.category] += 1
        zone_total[zone] += 1
        if set(before.agencies) == set(after.agencies):
            continue
        moved[incident.category] += 1
        zone_moved[zone] += 1
        primary_changed += before.primary != after.primary
        if len(examples) < DIFF_EXAMPLES:
            examples.append(
                f"  line {incident.line}: {incident.category} at {zone}, "
                f"{incident.at.astimezone(WIB):%Y-%m-%d %H:%M} WIB: "
                f"{_describe(before)} -> {_describe(after)}"
            )
    changed = sum(moved.values())
    print(f"old {old.version} ({args.old})")
    print(f"new {new.version} ({args.new})")
    print(
        f"{sum(total.values())} incidents replayed; {changed} would go elsewhere "
        f"({primary_changed} with a different primary agency, "
        f"{changed - primary_changed} with only the support agencies changed)"
    )
    if unroutable:
        print(f"unroutable (unknown category): old {unroutable['old']}, new {unroutable['new']}")
    if changed:
        print("by category:")
        for category, count in moved.most_common():
            print(f"  {category:<16} {count} of {total[category]}")
        print("by zone:")
        for zone, count in zone_moved.most_common():
            print(f"  {zone:<40} {count} of {zone_total[zone]}")
        print("examples (* = primary):")
        print("\n".join(examples))
    return 0


def _bench(args: argparse.Namespace) -> int:
    table = _load(_rules_dir(args.dir))
    if table is None:
        return 1
    # Reproducible load, not secrets: a seeded PRNG is what a benchmark wants.
    rng = random.Random(args.seed)  # noqa: S311
    min_lon, min_lat, max_lon, max_lat = table.bounds
    categories = list(table.categories)
    day = datetime(2026, 1, 5, tzinfo=WIB)
    points: list[tuple[float, float, str, datetime]] = []
    while len(points) < args.n:
        lat, lon = rng.uniform(min_lat, max_lat), rng.uniform(min_lon, max_lon)
        if not table.locate(lat, lon).out_of_area:
            at = day + timedelta(seconds=rng.randrange(24 * 3600))
            points.append((lat, lon, rng.choice(categories), at))
    route = table.route
    passes = [
        ("first pass (cold caches), with unit advice", True),
        ("second pass, with unit advice", True),
        ("decision only (zone, rule, agencies)", False),
    ]
    for label, with_units in passes:
        start = time.perf_counter()
        for lat, lon, category, at in points:
            route(lat, lon, category, now=at, units=with_units)
        elapsed = time.perf_counter() - start
        print(
            f"{label}: {len(points)} lookups in {elapsed:.3f} s = "
            f"{len(points) / elapsed:,.0f} lookups/s ({elapsed / len(points) * 1e6:.1f} us each)"
        )
    print(f"random points in Kota Serang, seed {args.seed}, rule set {table.version}")
    return 0
