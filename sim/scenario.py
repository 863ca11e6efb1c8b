"""The seeded Serang call stream: when calls arrive, from where, what they turn out to be.

Pure: given a seed and the kelurahan polygons it returns the same calls every time; it does no
I/O beyond ``load_zones`` and knows nothing of the server.

Sources for the mixes (shared/data/serang/ntpd112_call_stats.csv, Kota Serang rows):
- 40-360 calls a day; 2019-02..10: prank/ghost 43,810 and unanswered 23,957 of 68,027 classified
  (64% / 35%), 260 valid; 2020-01..09: 162 valid of 23,734 (0.7%). We use ~0.6% real *events*,
  which with their duplicate callers makes ~1.5-2% of calls real.
- categories 2020-01..09: korsleting listrik 34, kecelakaan 22, kebakaran 19, ambulans 19,
  pohon tumbang 18, lainnya 50; 2020-01..11 adds mobil jenazah 21, kriminal 10, and hewan liar,
  gangguan jiwa, kemacetan (8 together); 2022: banjir among the most frequent.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from shapely import Point
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

WIB = timezone(timedelta(hours=7), "WIB")
RULES_DIR = Path(__file__).resolve().parents[1] / "routing_rules"

# Share of calls by what they turn out to be (non-real part; see the module docstring).
# Info calls are not reported for Serang; Semarang (18%) and Jakarta (17%) report some.
NON_REAL_MIX: dict[str, float] = {
    "prank": 0.34,
    "ghost": 0.26,
    "abandoned": 0.30,
    "info": 0.08,
    "misdial": 0.02,
}
REAL_EVENT_SHARE = 0.006

# Serang's reported category counts (2020), "lainnya" reduced to what the named ones leave.
CATEGORY_MIX: dict[str, float] = {
    "listrik": 34,
    "kecelakaan": 22,
    "mobil_jenazah": 21,
    "kebakaran": 20,
    "medis": 19,
    "pohon_tumbang": 18,
    "banjir": 10,
    "kriminal": 10,
    "lainnya": 10,
    "hewan": 3,
    "lalu_lintas": 3,
    "gangguan_jiwa": 2,
}

# Events many people see and report (2-20 callers) vs household events (~1 caller), and how far
# from the event the callers stand (metres).
VISIBLE = {"kebakaran", "kecelakaan", "pohon_tumbang", "listrik", "banjir", "bencana"}
CALLER_SPREAD_M: dict[str, float] = {
    "kebakaran": 200,
    "kecelakaan": 80,
    "pohon_tumbang": 60,
    "listrik": 80,
    "banjir": 350,
    "bencana": 500,
}
HOUSEHOLD_SPREAD_M = 15

# Relative call volume by WIB hour: quiet nights, a school-out bump, the evening peak
# (pranks rise after school and in the evening, which is also when the reported peaks are).
HOURLY_WEIGHT = (
    1.0, 0.6, 0.4, 0.3, 0.4, 0.7, 1.2, 2.0, 3.0, 3.6, 3.8, 4.0,
    4.4, 4.8, 5.0, 5.0, 5.2, 5.6, 6.4, 7.2, 7.4, 6.2, 4.0, 2.0,
)  # fmt: skip

# Call-taker handling time (seconds) by kind: (low, high), uniform.
HANDLE_S: dict[str, tuple[float, float]] = {
    "prank": (10, 35),
    "ghost": (8, 20),
    "info": (45, 150),
    "misdial": (4, 10),
    "real": (40, 90),  # interview, category, map, description
    "real_duplicate": (25, 50),  # the call-taker recognises the event and attaches
}

MOBILE_PREFIXES = ("0812", "0813", "0821", "0822", "0852", "0853", "0857", "0858", "0877", "0896")


@dataclass(frozen=True, slots=True)
class Zone:
    kode: str
    name: str
    kecamatan: str
    geometry: BaseGeometry
    area_km2: float


@dataclass(frozen=True, slots=True)
class SimCall:
    """One arriving call. ``kind`` is the truth: real, prank, ghost, info, misdial, abandoned."""

    n: int
    at_s: float  # seconds after the scenario start, simulated time
    phone: str
    lat: float
    lon: float
    accuracy_m: float | None  # handset location (AML) when the phone sent one
    kind: str
    category: str | None
    event: int | None  # real calls about the same event share this key
    first: bool  # the first caller of its event
    ring_s: float
    handle_s: float
    zone: str  # kelurahan code (names repeat: there are two Sukawana)
    zone_name: str


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    seed: int
    start: datetime
    duration_s: float
    calls: tuple[SimCall, ...]

    def count(self, kind: str) -> int:
        return sum(1 for c in self.calls if c.kind == kind)


def load_zones(path: Path = RULES_DIR / "kelurahan.geojson") -> list[Zone]:
    data = json.loads(path.read_text())
    return [
        Zone(
            kode=f["properties"]["kode"],
            name=f["properties"]["nama"],
            kecamatan=f["properties"]["kecamatan"],
            geometry=shape(f["geometry"]),
            area_km2=float(f["properties"]["area_km2"]),
        )
        for f in data["features"]
    ]


def point_in(rng: random.Random, geometry: BaseGeometry) -> tuple[float, float]:
    """Uniform inside a (multi)polygon by rejection from its bounding box; returns (lat, lon)."""
    minx, miny, maxx, maxy = geometry.bounds
    while True:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if geometry.contains(Point(x, y)):
            return y, x


def near(rng: random.Random, lat: float, lon: float, radius_m: float) -> tuple[float, float]:
    """A point uniformly within ``radius_m`` of (lat, lon) (flat-earth; fine at city scale)."""
    r = radius_m * math.sqrt(rng.random())
    a = rng.uniform(0, 2 * math.pi)
    dlat = r * math.cos(a) / 111_320
    dlon = r * math.sin(a) / (111_320 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class _Builder:
    """Accumulates calls; owns the numbering, phones and prank repeat-callers."""

    def __init__(self, rng: random.Random, zones: Sequence[Zone]) -> None:
        self.rng = rng
        self.zones = zones
        self.area = [z.area_km2 for z in zones]
        self.rows: list[SimCall] = []
        self.events = 0
        # Pranksters call again and again: half the prank calls come from a few numbers.
        self.pranksters = [self.phone() for _ in range(40)]

    def phone(self) -> str:
        rng = self.rng
        return rng.choice(MOBILE_PREFIXES) + "".join(
            str(rng.randrange(10)) for _ in range(rng.choice((7, 8)))
        )

    def city_point(self) -> tuple[float, float, Zone]:
        zone = self.rng.choices(self.zones, weights=self.area)[0]
        lat, lon = point_in(self.rng, zone.geometry)
        return round(lat, 6), round(lon, 6), zone

    def _add(
        self,
        at_s: float,
        kind: str,
        lat: float,
        lon: float,
        zone: Zone,
        *,
        phone: str | None = None,
        category: str | None = None,
        event: int | None = None,
        first: bool = False,
    ) -> None:
        rng = self.rng
        has_aml = rng.random() < 0.7
        if kind == "real":
            low, high = HANDLE_S["real" if first else "real_duplicate"]
        else:
            low, high = HANDLE_S.get(kind, (0.0, 0.0))  # abandoned: never reaches a call-taker
        self.rows.append(
            SimCall(
                n=0,
                at_s=at_s,
                phone=phone or self.phone(),
                lat=lat,
                lon=lon,
                accuracy_m=round(rng.uniform(8, 120), 1) if has_aml else None,
                kind=kind,
                category=category,
                event=event,
                first=first,
                ring_s=rng.uniform(2, 8),
                handle_s=rng.uniform(low, high),
                zone=zone.kode,
                zone_name=zone.name,
            )
        )

    def noise_call(self, at_s: float) -> None:
        kind = _pick(self.rng, NON_REAL_MIX)
        lat, lon, zone = self.city_point()
        phone = None
        if kind == "prank" and self.rng.random() < 0.5:
            phone = self.rng.choice(self.pranksters)
        self._add(at_s, kind, lat, lon, zone, phone=phone)

    def event(
        self,
        at_s: float,
        category: str,
        callers: int,
        where: tuple[float, float, Zone] | None = None,
        mean_gap_s: float = 40.0,
    ) -> None:
        """A real event at one spot: the first caller at ``at_s``, the others soon after."""
        self.events += 1
        lat, lon, zone = where or self.city_point()
        spread = CALLER_SPREAD_M.get(category, HOUSEHOLD_SPREAD_M)
        t = at_s
        for i in range(callers):
            clat, clon = near(self.rng, lat, lon, spread)
            self._add(
                t, "real", clat, clon, zone, category=category, event=self.events, first=i == 0
            )
            t += self.rng.expovariate(1 / mean_gap_s)

    def callers_for(self, category: str) -> int:
        if category in VISIBLE:
            return min(20, 2 + int(self.rng.expovariate(1 / 2.5)))
        return 2 if self.rng.random() < 0.1 else 1

    def background(self, start_hour: float, duration_s: float, calls_per_day: float) -> None:
        """Arrivals over the day curve (thinned Poisson): noise calls and real events."""
        rng = self.rng
        mean_w = sum(HOURLY_WEIGHT) / 24
        peak = max(HOURLY_WEIGHT) / mean_w * calls_per_day / 86_400
        t = 0.0
        while True:
            t += rng.expovariate(peak)
            if t >= duration_s:
                return
            hour = int((start_hour + t / 3600) % 24)
            if rng.random() * peak > HOURLY_WEIGHT[hour] / mean_w * calls_per_day / 86_400:
                continue
            if rng.random() < REAL_EVENT_SHARE:
                category = _pick(rng, CATEGORY_MIX)
                self.event(t, category, self.callers_for(category))
            else:
                self.noise_call(t)

    def finish(self, name: str, seed: int, start: datetime, duration_s: float) -> Scenario:
        rows = sorted((c for c in self.rows if c.at_s < duration_s), key=lambda c: c.at_s)
        calls = tuple(replace(c, n=i) for i, c in enumerate(rows))
        return Scenario(name, seed, start, duration_s, calls)


def day(
    zones: Sequence[Zone], seed: int, *, hours: float = 24, calls_per_day: float = 360
) -> Scenario:
    """An ordinary day from midnight WIB (or the first ``hours`` of it)."""
    b = _Builder(random.Random(seed), zones)
    b.background(0, hours * 3600, calls_per_day)
    start = datetime(2026, 11, 23, 0, 0, tzinfo=WIB)
    return b.finish("day", seed, start, hours * 3600)


def flood(
    zones: Sequence[Zone],
    seed: int,
    *,
    flood_calls: int = 300,
    burst_s: float = 600,
    spots: int = 8,
    kelurahan: str = "Kasemen",
) -> Scenario:
    """Rain at 16:00 WIB: ``flood_calls`` calls about one kelurahan within ``burst_s``.

    The burst starts 10 minutes in, over the ordinary background; most callers report one of a
    few flooded spots (banjir), a few report a fallen tree or a live wire there, or a sick
    neighbour who must be evacuated.
    """
    rng = random.Random(seed)
    b = _Builder(rng, zones)
    duration_s = 10 * 60 + burst_s + 20 * 60
    b.background(16, duration_s, 360)
    area = next(z for z in zones if z.name == kelurahan)
    burst_at = 10 * 60.0
    flooded = [(*point_in(rng, area.geometry), area) for _ in range(spots)]
    side_events = max(1, flood_calls // 25)
    banjir_callers = flood_calls - side_events * 2
    # Spot popularity is skewed: the worst-hit street draws most calls.
    weights = [1 / (i + 1) for i in range(spots)]
    per_spot = [0] * spots
    for _ in range(banjir_callers):
        per_spot[rng.choices(range(spots), weights=weights)[0]] += 1
    for (lat, lon, zone), callers in zip(flooded, per_spot, strict=True):
        if callers:
            at = burst_at + rng.uniform(0, burst_s / 3)
            gap = max(1.0, (burst_s - (at - burst_at)) / callers)
            b.event(at, "banjir", callers, (lat, lon, zone), mean_gap_s=gap)
    for _ in range(side_events):
        category = rng.choice(("pohon_tumbang", "listrik", "medis", "penyelamatan"))
        where = (*point_in(rng, area.geometry), area)
        b.event(burst_at + rng.uniform(0, burst_s), category, 2, where, mean_gap_s=60)
    start = datetime(2026, 11, 23, 16, 0, tzinfo=WIB)
    return b.finish("flood", seed, start, duration_s)


def build(name: str, zones: Sequence[Zone], seed: int, *, hours: float | None = None) -> Scenario:
    if name == "day":
        return day(zones, seed, hours=24 if hours is None else hours)
    if name == "flood":
        return flood(zones, seed)
    raise ValueError(f"unknown scenario {name!r} (day, flood)")
