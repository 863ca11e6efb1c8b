"""Routing engine: loads and validates `routing_rules/`, then says which agencies and units an
incident at a point goes to, naming the deciding rule and rule-set version.
Pure after `RoutingTable.load`: no asyncio, no database, no printing; `now` is an argument.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final, TypeAlias, TypeVar

import shapely
from geopy.distance import geodesic
from shapely.geometry import mapping, shape
from shapely.strtree import STRtree

# JSON as the dump_* functions return it (the same shape as incidents.JSON).
JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"

DEFAULT_RULES_DIR: Final = Path(__file__).resolve().parents[1] / "routing_rules"
WIB: Final = timezone(timedelta(hours=7), "WIB")

KELURAHAN_FILE: Final = "kelurahan.geojson"
KECAMATAN_FILE: Final = "kecamatan.geojson"
NEIGHBOURS_FILE: Final = "neighbours.geojson"
SPECIAL_FILE: Final = "special_zones.geojson"
AGENCIES_FILE: Final = "agencies.toml"
CATEGORIES_FILE: Final = "categories.toml"
RULES_FILE: Final = "rules.toml"
RULESET_FILES: Final = (
    KELURAHAN_FILE,
    KECAMATAN_FILE,
    NEIGHBOURS_FILE,
    SPECIAL_FILE,
    AGENCIES_FILE,
    CATEGORIES_FILE,
    RULES_FILE,
)

# The source polygons are simplified: neighbours leave slivers of up to ~11 m between them,
# so a point in no polygon takes the nearest one within 15 m (a little more than a sliver).
BORDER_TOLERANCE_M: Final = 15.0
# Each agency is shown its three nearest free units: the first choice and two fall-backs.
UNITS_PER_AGENCY: Final = 3
# Distances are reported in 10 m steps: post coordinates are kelurahan-level estimates, so
# finer digits would be false precision; equal advice is then shared, not rebuilt per call.
DISTANCE_STEP_M: Final = 10
# Share advice objects only within 100 km (10,000 steps), which bounds that memo's size.
_SHARED_ADVICE_STEPS: Final = 10_000
# Lookup grid: 100 m cells keep the grid small (~57k cells over the city) while about 80% of
# city points fall in a cell that lies wholly inside one kelurahan and skip shapely.
GRID_CELL_M: Final = 100.0
# Cells beyond the city outline by this much are covered by the grid too (out-of-area calls
# cluster just over the border).
GRID_MARGIN_M: Final = 1000.0
PRIORITIES: Final = frozenset({1, 2, 3, 4})
MINUTES_PER_DAY: Final = 24 * 60
_WIB_OFFSET_S: Final = 7 * 3600
_TIME_RE: Final = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_AGENCY_KINDS: Final = frozenset({"opd", "vertical"})
_CHANNELS: Final = frozenset({"console", "phone", "radio"})
_OUTSIDE_HANDOVER: Final = (
    "outside Kota Serang and its mapped neighbours: hand over to the local 112"
)


class Role(StrEnum):
    PRIMARY = "primary"
    SUPPORT = "support"


class ZoneKind(StrEnum):
    KELURAHAN = "kelurahan"
    KECAMATAN = "kecamatan"
    NEIGHBOUR = "neighbour"
    SPECIAL = "special"


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"


class RulesError(Exception):
    """The rule set is invalid; `problems` lists every problem found, not just the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownCategory(ValueError):
    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"unknown category {code!r}")


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name_id: str
    name_en: str
    apco: str
    priority: int
    duplicate_radius_m: int
    duplicate_window_s: int
    compatible_with: frozenset[str]


@dataclass(frozen=True, slots=True)
class Post:
    id: str
    name: str
    kelurahan: str
    lat: float
    lon: float
    coord_source: str
    coord_note: str
    facility: str | None


@dataclass(frozen=True, slots=True)
class Unit:
    id: str
    type: str
    post: str
    capacity: int
    note: str


@dataclass(frozen=True, slots=True)
class Agency:
    code: str
    name_id: str
    name_en: str
    kind: str
    channel: str
    note: str
    posts: tuple[Post, ...]
    units: tuple[Unit, ...]


# Compared by identity: each zone exists once per table, and identity hashing keeps the grid
# build fast.
@dataclass(frozen=True, slots=True, eq=False)
class Zone:
    id: str
    name: str
    kind: ZoneKind
    kecamatan: str | None
    kabkota: str | None
    kabkota_name: str | None
    # Special zones: 1 is the highest; city and neighbour zones all share one rank (0), so
    # ties among them break on the zone id.
    priority: int


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    categories: frozenset[str] | None
    zones: frozenset[str] | None
    time: str | None
    minutes: frozenset[int] | None
    priorities: frozenset[int] | None
    out_of_area: bool
    primary: tuple[str, ...]
    support: tuple[str, ...]
    evidence: str
    # Dispatched when no agency of the rule acknowledges in time, or when one declines.
    fallback: str | None = None


@dataclass(frozen=True, slots=True)
class AgencyChoice:
    agency: str
    role: Role


@dataclass(frozen=True, slots=True)
class UnitAdvice:
    agency: str
    unit_id: str
    unit_type: str
    post: str
    distance_m: int  # straight line from the post
    eta_s: int  # distance x road factor / speed (see agencies.toml [eta])


@dataclass(frozen=True, slots=True)
class Location:
    zone: str | None
    zone_name: str | None
    kecamatan: str | None
    out_of_area: bool
    handover: str | None
    special_zones: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Route:
    zone: str | None  # kelurahan code; None out of area
    zone_name: str | None
    kecamatan: str | None  # city kecamatan, or the neighbouring one out of area
    out_of_area: bool
    handover: str | None  # who to hand an out-of-area incident over to
    rule_id: str
    ruleset_version: str
    agencies: tuple[AgencyChoice, ...]  # primary first, in rule order
    units: tuple[UnitAdvice, ...]  # up to 3 nearest free units per agency, in `agencies` order
    special_zones: tuple[str, ...] = ()  # ops-drawn zones containing the point, by priority
    fallback: str | None = None  # the rule's agency of last resort (escalation, decline)

    @property
    def primary(self) -> tuple[str, ...]:
        return tuple(c.agency for c in self.agencies if c.role is Role.PRIMARY)


def dump_route(route: Route) -> dict[str, JSON]:
    """Route as JSON-ready dict (the shape of GET /api/v1/routing/explain)."""
    return {
        "zone": route.zone,
        "zone_name": route.zone_name,
        "kecamatan": route.kecamatan,
        "out_of_area": route.out_of_area,
        "handover": route.handover,
        "special_zones": list[JSON](route.special_zones),
        "rule": route.rule_id,
        "ruleset_version": route.ruleset_version,
        "fallback": route.fallback,
        "agencies": [{"agency": c.agency, "role": str(c.role)} for c in route.agencies],
        "units": [dump_unit(u) for u in route.units],
    }


def dump_unit(unit: UnitAdvice) -> dict[str, JSON]:
    """Unit advice as a JSON-ready dict."""
    return {
        "agency": unit.agency,
        "unit_id": unit.unit_id,
        "unit_type": unit.unit_type,
        "post": unit.post,
        "distance_m": unit.distance_m,
        "eta_s": unit.eta_s,
    }


@dataclass(frozen=True, slots=True)
class _Place:
    """A distinct answer of the zone lookup; rule decisions are cached per place."""

    index: int
    location: Location
    tags: frozenset[str]  # the zone ids rules can name for this place


@dataclass(frozen=True, slots=True)
class _Decision:
    rule: Rule
    agencies: tuple[AgencyChoice, ...]
    # Per chosen agency: its posts as (x, y) in local metres with the units based there.
    pools: tuple[tuple[str, tuple[tuple[float, float, tuple[Unit, ...]], ...]], ...]


# --------------------------------------------------------------------------- validation


class _Fields:
    """Typed access to one TOML table; each missing, mistyped or unknown key is a Problem."""

    def __init__(
        self,
        problems: list[Problem],
        file: str,
        where: str,
        table: object,
        allowed: Iterable[str],
    ) -> None:
        self.problems, self.file, self.where = problems, file, where
        if not isinstance(table, dict):
            self.table: dict[str, object] = {}
            self.report("not a table")
            return
        self.table = table
        known = set(allowed)
        for key in table:
            if key not in known:
                self.report(f"unknown key {key!r}")

    def report(self, message: str) -> None:
        self.problems.append(Problem(self.file, self.where, message))

    def _get(self, key: str, required: bool, kinds: tuple[type, ...], label: str) -> object:
        if key not in self.table:
            if required:
                self.report(f"missing {key!r}")
            return None
        value = self.table[key]
        # bool is an int in Python; a TOML true where a number belongs is a typo.
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            self.report(f"{key!r} must be {label}, not {value!r}")
            return None
        return value

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self._get(key, required, (str,), "a string")
        if isinstance(value, str) and not value.strip():
            self.report(f"{key!r} is empty")
            return None
        return value if isinstance(value, str) else None

    def integer(self, key: str, *, required: bool = True) -> int | None:
        value = self._get(key, required, (int,), "an integer")
        return value if isinstance(value, int) else None

    def number(self, key: str) -> float | None:
        value = self._get(key, True, (int, float), "a number")
        return float(value) if isinstance(value, int | float) else None

    def flag(self, key: str) -> bool:
        return self._get(key, False, (bool,), "true or false") is True

    def texts(self, key: str, *, required: bool = False) -> tuple[str, ...] | None:
        value = self._get(key, required, (list,), "a list of strings")
        if not isinstance(value, list):
            return None
        if not all(isinstance(v, str) for v in value):
            self.report(f"{key!r} must be a list of strings")
            return None
        return tuple(str(v) for v in value)

    def integers(self, key: str) -> tuple[int, ...] | None:
        value = self._get(key, False, (list,), "a list of integers")
        if not isinstance(value, list):
            return None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            self.report(f"{key!r} must be a list of integers")
            return None
        return tuple(int(v) for v in value)


def _parse_minutes(text: str) -> frozenset[int] | str:
    """'HH:MM-HH:MM' (end exclusive, may wrap midnight) -> minutes of the day, or an error."""
    match = _TIME_RE.match(text)
    if match is None:
        return f"time {text!r} is not 'HH:MM-HH:MM'"
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        return f"time {text!r} has an hour or minute out of range"
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end % MINUTES_PER_DAY:
        return f"time {text!r} is empty or the whole day (omit 'time' for all day)"
    if start < end:
        return frozenset(range(start, end))
    return frozenset(range(start, MINUTES_PER_DAY)) | frozenset(range(end))


@dataclass(slots=True)
class _RawZone:
    zone: Zone
    geometry: shapely.Geometry


def _read_zones(problems: list[Problem], file: str, data: object, kind: ZoneKind) -> list[_RawZone]:
    """Zones of one GeoJSON FeatureCollection; source files use kode/nama, ours id/name."""
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        problems.append(Problem(file, "-", "not a GeoJSON FeatureCollection"))
        return []
    zones: list[_RawZone] = []
    for n, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            problems.append(Problem(file, f"feature {n}", "no properties"))
            continue
        zone_id = props.get("id", props.get("kode"))
        name = props.get("name", props.get("nama"))
        where = str(zone_id) if zone_id else f"feature {n}"
        if not isinstance(zone_id, str) or not isinstance(name, str):
            problems.append(Problem(file, where, "needs string 'kode'/'id' and 'nama'/'name'"))
            continue
        try:
            geometry = shape(feature["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
            problems.append(Problem(file, where, "geometry is missing or malformed"))
            continue
        if geometry.geom_type not in ("Polygon", "MultiPolygon") or geometry.is_empty:
            problems.append(
                Problem(file, where, f"geometry is {geometry.geom_type}, not a polygon")
            )
            continue
        if not geometry.is_valid:
            reason = shapely.is_valid_reason(geometry)
            problems.append(Problem(file, where, f"invalid polygon: {reason}"))
            continue
        priority = 0
        if kind is ZoneKind.SPECIAL:
            value = props.get("priority")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(Problem(file, where, "'priority' must be an integer >= 1"))
                continue
            priority = value
        kabkota = props.get("kabkota_kode") if kind is ZoneKind.NEIGHBOUR else None
        kabkota_name = props.get("kabkota") if kind is ZoneKind.NEIGHBOUR else None
        kecamatan = props.get("kecamatan_kode") if kind is ZoneKind.KELURAHAN else None
        if kind is ZoneKind.NEIGHBOUR and not (
            isinstance(kabkota, str) and isinstance(kabkota_name, str)
        ):
            problems.append(Problem(file, where, "needs string 'kabkota_kode' and 'kabkota'"))
            continue
        if kind is ZoneKind.KELURAHAN and not isinstance(kecamatan, str):
            problems.append(Problem(file, where, "needs string 'kecamatan_kode'"))
            continue
        zone = Zone(
            id=zone_id,
            name=name,
            kind=kind,
            kecamatan=kecamatan if isinstance(kecamatan, str) else None,
            kabkota=kabkota if isinstance(kabkota, str) else None,
            kabkota_name=kabkota_name if isinstance(kabkota_name, str) else None,
            priority=priority,
        )
        zones.append(_RawZone(zone, geometry))
    return zones


# --------------------------------------------------------------------------- the table


class RoutingTable:
    """A validated rule set with its spatial index; `route()` is pure and cached."""

    def __init__(
        self,
        *,
        version: str,
        categories: Mapping[str, Category],
        agencies: Mapping[str, Agency],
        rules: tuple[Rule, ...],
        zones: list[_RawZone],
        road_factor: float,
        speed_kmh: float,
    ) -> None:
        self.version = version
        self.categories: Mapping[str, Category] = MappingProxyType(dict(categories))
        self.agencies: Mapping[str, Agency] = MappingProxyType(dict(agencies))
        self.rules = rules
        self.zones: Mapping[str, Zone] = MappingProxyType({z.zone.id: z.zone for z in zones})
        self.road_factor = road_factor
        self.speed_kmh = speed_kmh
        self._wgs84 = {z.zone.id: z.geometry for z in zones}

        kelurahan = [z for z in zones if z.zone.kind is ZoneKind.KELURAHAN]
        city = shapely.union_all([z.geometry for z in kelurahan])
        # shapely gives numpy floats; plain floats keep the hot-path arithmetic fast.
        min_lon, min_lat, max_lon, max_lat = (float(v) for v in city.bounds)
        self.bounds: tuple[float, float, float, float] = (min_lon, min_lat, max_lon, max_lat)
        # Local metric projection around the city centre, scaled by geopy's geodesic: over
        # the ~60 km the zones span, distances err by well under 0.1%.
        self._lat0 = (min_lat + max_lat) / 2
        self._lon0 = (min_lon + max_lon) / 2
        step = 0.01  # degrees: short enough for a linear scale, long enough to be exact
        self._kx = geodesic((self._lat0, self._lon0), (self._lat0, self._lon0 + step)).m / step
        self._ky = (
            geodesic((self._lat0 - step / 2, self._lon0), (self._lat0 + step / 2, self._lon0)).m
            / step
        )

        # Zone polygons in metres, prepared for fast repeated point tests.
        self._metric = {z.zone.id: self._project(z.geometry) for z in zones}
        shapely.prepare(list(self._metric.values()))

        def layer(kind: ZoneKind) -> tuple[STRtree, tuple[Zone, ...]]:
            chosen = tuple(z.zone for z in zones if z.zone.kind is kind)
            return STRtree([self._metric[z.id] for z in chosen]), chosen

        self._kelurahan = layer(ZoneKind.KELURAHAN)
        self._neighbours = layer(ZoneKind.NEIGHBOUR)
        self._special = layer(ZoneKind.SPECIAL)

        self._places: list[_Place] = []
        self._place_ids: dict[tuple[str | None, str | None, tuple[str, ...]], int] = {}
        # Time buckets: the minutes at which some rule's time window opens or closes. All
        # minutes of a bucket match the same rules, so decisions are cached per bucket.
        self._time_edges = sorted(
            {0}
            | {
                m
                for rule in rules
                if rule.minutes is not None
                for m in range(MINUTES_PER_DAY)
                if (m in rule.minutes) != ((m - 1) % MINUTES_PER_DAY in rule.minutes)
            }
        )
        mps = speed_kmh * 1000 / 3600
        self._eta_per_m = road_factor / mps
        self._bucket_of_minute = [
            bisect.bisect_right(self._time_edges, m) - 1 for m in range(MINUTES_PER_DAY)
        ]
        self._default_priority = {c.code: c.priority for c in categories.values()}
        self._decisions: dict[tuple[int, str, int, int], _Decision] = {}
        self._advice: dict[tuple[str, int], UnitAdvice] = {}
        self._rule_decisions = {rule.id: self._decision_for(rule) for rule in rules}
        self._build_grid(city)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, directory: Path) -> RoutingTable:
        """Read and validate a rule-set directory; raise RulesError listing every problem."""
        problems: list[Problem] = []
        digest = hashlib.sha256()
        parsed: dict[str, object] = {}
        for name in RULESET_FILES:
            path = directory / name
            try:
                raw = path.read_bytes()
            except OSError as exc:
                problems.append(Problem(name, "-", f"cannot read: {exc.strerror or exc}"))
                continue
            digest.update(name.encode() + b"\0" + raw + b"\0")
            try:
                if name.endswith(".toml"):
                    parsed[name] = tomllib.loads(raw.decode("utf-8"))
                else:
                    parsed[name] = json.loads(raw)
            except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
                problems.append(Problem(name, "-", f"cannot parse: {exc}"))

        zones = [
            *_read_zones(problems, KELURAHAN_FILE, parsed.get(KELURAHAN_FILE), ZoneKind.KELURAHAN),
            *_read_zones(problems, KECAMATAN_FILE, parsed.get(KECAMATAN_FILE), ZoneKind.KECAMATAN),
            *_read_zones(
                problems, NEIGHBOURS_FILE, parsed.get(NEIGHBOURS_FILE), ZoneKind.NEIGHBOUR
            ),
            *_read_zones(problems, SPECIAL_FILE, parsed.get(SPECIAL_FILE), ZoneKind.SPECIAL),
        ]
        by_id = _check_zones(problems, zones)
        categories = _read_categories(problems, parsed.get(CATEGORIES_FILE, {}))
        agencies, road_factor, speed_kmh = _read_agencies(
            problems, parsed.get(AGENCIES_FILE, {}), by_id
        )
        rules = _read_rules(problems, parsed.get(RULES_FILE, {}), categories, agencies, by_id)
        if problems:
            raise RulesError(problems)
        return cls(
            version=digest.hexdigest()[:12],
            categories=categories,
            agencies=agencies,
            rules=rules,
            zones=zones,
            road_factor=road_factor,
            speed_kmh=speed_kmh,
        )

    # ------------------------------------------------------------------ lookups

    def _project(self, geometry: shapely.Geometry) -> shapely.Geometry:
        lon0, lat0, kx, ky = self._lon0, self._lat0, self._kx, self._ky
        return shapely.transform(geometry, lambda c: (c - [lon0, lat0]) * [kx, ky])

    def _intern(self, kelurahan: Zone | None, neighbour: Zone | None, special: list[Zone]) -> int:
        special.sort(key=_rank)
        special_ids = tuple(z.id for z in special)
        key = (
            kelurahan.id if kelurahan else None,
            neighbour.id if neighbour else None,
            special_ids,
        )
        index = self._place_ids.get(key)
        if index is not None:
            return index
        tags: set[str] = set(special_ids)
        if kelurahan is not None:
            location = Location(
                kelurahan.id, kelurahan.name, kelurahan.kecamatan, False, None, special_ids
            )
            tags |= {kelurahan.id, str(kelurahan.kecamatan)}
        elif neighbour is not None:
            handover = f"Kec. {neighbour.name}, {neighbour.kabkota_name}"
            location = Location(None, None, neighbour.id, True, handover, special_ids)
            tags |= {neighbour.id, str(neighbour.kabkota)}
        else:
            location = Location(None, None, None, True, _OUTSIDE_HANDOVER, special_ids)
        index = len(self._places)
        self._places.append(_Place(index, location, frozenset(tags)))
        self._place_ids[key] = index
        return index

    def _build_grid(self, city: shapely.Geometry) -> None:
        """Precompute the place of every grid cell that no zone boundary comes near."""
        x0, y0, x1, y1 = (float(v) for v in self._project(city).bounds)
        self._gx0: float = x0 - GRID_MARGIN_M
        self._gy0: float = y0 - GRID_MARGIN_M
        self._nx: int = math.ceil((x1 - x0 + 2 * GRID_MARGIN_M) / GRID_CELL_M)
        self._ny: int = math.ceil((y1 - y0 + 2 * GRID_MARGIN_M) / GRID_CELL_M)
        cells = range(self._nx * self._ny)
        xs = [self._gx0 + (k % self._nx) * GRID_CELL_M for k in cells]
        ys = [self._gy0 + (k // self._nx) * GRID_CELL_M for k in cells]
        boxes = shapely.box(xs, ys, [x + GRID_CELL_M for x in xs], [y + GRID_CELL_M for y in ys])
        tol = BORDER_TOLERANCE_M
        grown = shapely.box(
            [x - tol for x in xs],
            [y - tol for y in ys],
            [x + GRID_CELL_M + tol for x in xs],
            [y + GRID_CELL_M + tol for y in ys],
        )

        box_tree, grown_tree = STRtree(boxes), STRtree(grown)

        def scan(
            layer: tuple[STRtree, tuple[Zone, ...]], near_tree: STRtree
        ) -> tuple[dict[int, list[Zone]], dict[int, list[Zone]]]:
            """Per cell: the zones that come near it, and the zones that contain it whole."""
            tree, zones = layer
            near: dict[int, list[Zone]] = {}
            inside: dict[int, list[Zone]] = {}
            # One query per zone: each polygon is prepared once and tested against the boxes.
            for zone, geometry in zip(zones, tree.geometries, strict=True):
                for k in near_tree.query(geometry, predicate="intersects").tolist():
                    near.setdefault(k, []).append(zone)
                for k in box_tree.query(geometry, predicate="contains").tolist():
                    inside.setdefault(k, []).append(zone)
            return near, inside

        # A cell is "pure" when every zone that comes within the tolerance of it contains it
        # whole: then every point in it resolves alike, to a place computed here. Other
        # ("mixed") cells keep their candidate zones for a quick point-in-polygon test.
        kel_near, kel_in = scan(self._kelurahan, grown_tree)
        nb_near, nb_in = scan(self._neighbours, grown_tree)
        sp_near, sp_in = scan(self._special, box_tree)
        grid = [0] * len(cells)
        self._mixed: list[
            tuple[tuple[Zone, ...], tuple[shapely.Geometry, ...], dict[bytes, int]]
        ] = []
        memo: dict[tuple[tuple[Zone, ...], ...], int] = {}
        for k in cells:
            kelurahan_in, special_in = tuple(kel_in.get(k, ())), tuple(sp_in.get(k, ()))
            kelurahan_near, special_near = kel_near.get(k, ()), sp_near.get(k, ())
            neighbours_in: tuple[Zone, ...] = ()
            if not kelurahan_near:
                neighbours_in = tuple(nb_in.get(k, ()))
            if (
                len(kelurahan_near) != len(kelurahan_in)
                or len(special_near) != len(special_in)
                or (len(nb_near.get(k, ())) != len(neighbours_in) and not kelurahan_near)
            ):
                grid[k] = -1 - len(self._mixed)
                candidates = (*kelurahan_near, *special_near)
                geometries = tuple(self._metric[z.id] for z in candidates)
                self._mixed.append((candidates, geometries, {}))
                continue
            key = (kelurahan_in, neighbours_in, special_in)
            if key not in memo:
                memo[key] = self._intern(
                    min(kelurahan_in, key=_rank, default=None),
                    min(neighbours_in, key=_rank, default=None),
                    list(special_in),
                )
            grid[k] = memo[key]
        self._grid: list[int] = grid

    def _place_xy(self, x: float, y: float) -> _Place:
        fx = (x - self._gx0) / GRID_CELL_M
        fy = (y - self._gy0) / GRID_CELL_M
        if 0.0 <= fx < self._nx and 0.0 <= fy < self._ny:
            index = self._grid[int(fy) * self._nx + int(fx)]
            if index >= 0:
                return self._places[index]
            zones, geometries, seen = self._mixed[-1 - index]
            # One vectorised test of all candidate zones of the cell; the pattern of hits
            # decides the place, so each pattern is resolved once per cell.
            hits = shapely.intersects_xy(geometries, x, y).tobytes()
            place = seen.get(hits)
            if place is not None:
                return self._places[place]
            inside = [z for z, hit in zip(zones, hits, strict=True) if hit]
            kelurahan_hits = [z for z in inside if z.kind is ZoneKind.KELURAHAN]
            if kelurahan_hits:
                special = [z for z in inside if z.kind is ZoneKind.SPECIAL]
                place = self._intern(min(kelurahan_hits, key=_rank), None, special)
                seen[hits] = place
                return self._places[place]
        # Outside the grid, or in no kelurahan: the border tolerance and neighbours decide.
        point = shapely.Point(x, y)
        kelurahan = _pick(self._kelurahan, point)
        neighbour = None if kelurahan else _pick(self._neighbours, point)
        tree, zones = self._special
        special = [zones[i] for i in tree.query(point, predicate="intersects")]
        return self._places[self._intern(kelurahan, neighbour, special)]

    def locate(self, lat: float, lon: float) -> Location:
        """Where a point is: kelurahan (with border tolerance) or out of area, with hand-over."""
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise ValueError(f"not a WGS84 coordinate: lat={lat!r}, lon={lon!r}")
        x, y = (lon - self._lon0) * self._kx, (lat - self._lat0) * self._ky
        return self._place_xy(x, y).location

    def route(
        self,
        lat: float,
        lon: float,
        category: str,
        *,
        now: datetime,
        priority: int | None = None,
        busy_units: frozenset[str] = frozenset(),
        units: bool = True,
    ) -> Route:
        """Agencies (by the first matching rule) and nearest free units for an incident.

        ``units=False`` leaves out the unit advice, for callers that only need the decision.
        """
        default_priority = self._default_priority.get(category)
        if default_priority is None:
            raise UnknownCategory(category)
        if priority is None:
            priority = default_priority
        elif priority not in PRIORITIES:
            raise ValueError(f"priority must be 1 (highest) .. 4, not {priority!r}")
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        # Written so that NaN fails too.
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise ValueError(f"not a WGS84 coordinate: lat={lat!r}, lon={lon!r}")
        x, y = (lon - self._lon0) * self._kx, (lat - self._lat0) * self._ky
        place = self._place_xy(x, y)
        bucket = self._bucket_of_minute[
            int((now.timestamp() + _WIB_OFFSET_S) // 60) % MINUTES_PER_DAY
        ]
        key = (place.index, category, bucket, priority)
        decision = self._decisions.get(key)
        if decision is None:
            start = self._time_edges[bucket]
            decision = next(
                self._rule_decisions[rule.id]
                for rule in self.rules
                if _matches(rule, place, category, start, priority)
            )
            self._decisions[key] = decision
        loc = place.location
        return Route(
            loc.zone,
            loc.zone_name,
            loc.kecamatan,
            loc.out_of_area,
            loc.handover,
            decision.rule.id,
            self.version,
            decision.agencies,
            self._advise(decision, x, y, busy_units) if units else (),
            loc.special_zones,
            decision.rule.fallback,
        )

    def _decision_for(self, rule: Rule) -> _Decision:
        choices = tuple(AgencyChoice(a, Role.PRIMARY) for a in rule.primary) + tuple(
            AgencyChoice(a, Role.SUPPORT) for a in rule.support
        )
        pools = []
        for choice in choices:
            agency = self.agencies[choice.agency]
            posts = []
            for post in agency.posts:
                units = tuple(u for u in agency.units if u.post == post.id)
                if units:  # a post without units has nothing to send
                    x = (post.lon - self._lon0) * self._kx
                    y = (post.lat - self._lat0) * self._ky
                    posts.append((x, y, units))
            pools.append((agency.code, tuple(posts)))
        return _Decision(rule, choices, tuple(pools))

    def _advise(
        self, decision: _Decision, x: float, y: float, busy: frozenset[str]
    ) -> tuple[UnitAdvice, ...]:
        """Up to three nearest free units of each chosen agency, agencies in their order."""
        advice: list[UnitAdvice] = []
        shared = self._advice
        for agency, posts in decision.pools:
            # Nearest posts first; a stable sort keeps file order on ties, and a post's units
            # go in file order. Agencies have few posts, so this stays cheap on the hot path.
            ranked = sorted(posts, key=lambda p: (p[0] - x) ** 2 + (p[1] - y) ** 2)
            wanted = len(advice) + UNITS_PER_AGENCY
            for px, py, units in ranked:
                steps = round(math.hypot(px - x, py - y) / DISTANCE_STEP_M)
                for unit in units:
                    if busy and unit.id in busy:
                        continue
                    key = (unit.id, steps)
                    item = shared.get(key)
                    if item is None:
                        metres = steps * DISTANCE_STEP_M
                        eta = round(metres * self._eta_per_m)
                        item = UnitAdvice(agency, unit.id, unit.type, unit.post, metres, eta)
                        if steps < _SHARED_ADVICE_STEPS:
                            shared[key] = item
                    advice.append(item)
                    if len(advice) == wanted:
                        break
                if len(advice) == wanted:
                    break
        return tuple(advice)

    def zones_geojson(self) -> dict[str, object]:
        """Kelurahan and special zones as a small FeatureCollection for the console map."""
        features: list[dict[str, object]] = []
        for zone in self.zones.values():
            if zone.kind not in (ZoneKind.KELURAHAN, ZoneKind.SPECIAL):
                continue
            # 5 decimals is ~1 m: finer than the polygons' own accuracy, half the bytes.
            geometry = shapely.transform(self._wgs84[zone.id], lambda c: c.round(5))
            features.append(
                {
                    "type": "Feature",
                    "id": zone.id,
                    "properties": {
                        "id": zone.id,
                        "name": zone.name,
                        "kind": str(zone.kind),
                        "kecamatan": zone.kecamatan,
                        "priority": zone.priority,
                    },
                    "geometry": mapping(geometry),
                }
            )
        return {"type": "FeatureCollection", "features": features}


def _rank(zone: Zone) -> tuple[int, str]:
    return (zone.priority, zone.id)


def _pick(layer: tuple[STRtree, tuple[Zone, ...]], point: shapely.Point) -> Zone | None:
    """The zone containing the point, else the nearest within the border tolerance."""
    tree, zones = layer
    hits = tree.query(point, predicate="intersects")
    if len(hits) == 0:
        hits = tree.query_nearest(point, max_distance=BORDER_TOLERANCE_M, all_matches=True)
    return min((zones[i] for i in hits), key=_rank, default=None)


def _matches(rule: Rule, place: _Place, category: str, minute: int, priority: int) -> bool:
    return (
        rule.out_of_area == place.location.out_of_area
        and (rule.categories is None or category in rule.categories)
        and (rule.zones is None or not rule.zones.isdisjoint(place.tags))
        and (rule.minutes is None or minute in rule.minutes)
        and (rule.priorities is None or priority in rule.priorities)
    )


# --------------------------------------------------------------------------- file readers

_ZONE_FILES: Final = {
    ZoneKind.KELURAHAN: KELURAHAN_FILE,
    ZoneKind.KECAMATAN: KECAMATAN_FILE,
    ZoneKind.NEIGHBOUR: NEIGHBOURS_FILE,
    ZoneKind.SPECIAL: SPECIAL_FILE,
}


@dataclass(frozen=True, slots=True)
class _ZoneRefs:
    """Zone ids a rule or post may name, split by where they lie."""

    zones: Mapping[str, _RawZone]
    city: frozenset[str]  # kelurahan, kecamatan, special
    outside: frozenset[str]  # neighbouring kecamatan and their kab/kota, special
    parent: Mapping[str, str]  # kelurahan -> kecamatan, neighbour -> kab/kota


def _check_zones(problems: list[Problem], zones: list[_RawZone]) -> _ZoneRefs:
    by_id: dict[str, _RawZone] = {}
    for raw in zones:
        zone = raw.zone
        if zone.id in by_id:
            other = _ZONE_FILES[by_id[zone.id].zone.kind]
            problems.append(
                Problem(_ZONE_FILES[zone.kind], zone.id, f"duplicate zone id (also in {other})")
            )
            continue
        by_id[zone.id] = raw
    if not any(z.zone.kind is ZoneKind.KELURAHAN for z in zones):
        problems.append(Problem(KELURAHAN_FILE, "-", "no kelurahan"))
    kecamatan = {i for i, z in by_id.items() if z.zone.kind is ZoneKind.KECAMATAN}
    parent: dict[str, str] = {}
    for zone_id, raw in by_id.items():
        zone = raw.zone
        if zone.kind is ZoneKind.KELURAHAN and zone.kecamatan is not None:
            if zone.kecamatan not in kecamatan:
                problems.append(
                    Problem(KELURAHAN_FILE, zone_id, f"unknown kecamatan {zone.kecamatan!r}")
                )
            parent[zone_id] = zone.kecamatan
        if zone.kind is ZoneKind.NEIGHBOUR and zone.kabkota is not None:
            if zone.kabkota in by_id:
                problems.append(
                    Problem(
                        NEIGHBOURS_FILE, zone_id, f"kab/kota code {zone.kabkota!r} is a zone id"
                    )
                )
            parent[zone_id] = zone.kabkota
    kinds = {i: z.zone.kind for i, z in by_id.items()}
    special = {i for i, k in kinds.items() if k is ZoneKind.SPECIAL}
    city = {i for i, k in kinds.items() if k in (ZoneKind.KELURAHAN, ZoneKind.KECAMATAN)}
    outside = {i for i, k in kinds.items() if k is ZoneKind.NEIGHBOUR}
    outside |= {parent[i] for i in outside if i in parent}
    return _ZoneRefs(by_id, frozenset(city | special), frozenset(outside | special), parent)


def _tables(problems: list[Problem], file: str, data: object, key: str) -> list[object]:
    """The [[key]] array of tables of a TOML document."""
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        problems.append(Problem(file, "-", f"no [[{key}]] tables"))
        return []
    return items


def _where(item: object, key: str, fallback: str) -> str:
    value = item.get(key) if isinstance(item, dict) else None
    return value if isinstance(value, str) and value else fallback


def _read_categories(problems: list[Problem], data: object) -> dict[str, Category]:
    file = CATEGORIES_FILE
    _Fields(problems, file, "-", data, ["category"])
    categories: dict[str, Category] = {}
    for n, item in enumerate(_tables(problems, file, data, "category"), start=1):
        where = _where(item, "code", f"category #{n}")
        f = _Fields(
            problems,
            file,
            where,
            item,
            [
                "code",
                "name_id",
                "name_en",
                "apco",
                "priority",
                "duplicate_radius_m",
                "duplicate_window_s",
                "compatible_with",
            ],
        )
        code, name_id, name_en, apco = (
            f.text("code"),
            f.text("name_id"),
            f.text("name_en"),
            f.text("apco"),
        )
        priority = f.integer("priority")
        radius, window = f.integer("duplicate_radius_m"), f.integer("duplicate_window_s")
        compatible = f.texts("compatible_with") or ()
        if priority is not None and priority not in PRIORITIES:
            f.report(f"priority must be 1 (highest) .. 4, not {priority}")
        if radius is not None and radius <= 0:
            f.report("duplicate_radius_m must be positive")
        if window is not None and window <= 0:
            f.report("duplicate_window_s must be positive")
        if apco is not None and not re.fullmatch(r"[0-9A-Z]+", apco):
            f.report(f"apco {apco!r} is not an APCO ANS 2.103.1 code (upper-case letters/digits)")
        if code is not None and code in categories:
            f.report("duplicate category code")
            continue
        if code and name_id and name_en and apco and priority and radius and window:
            categories[code] = Category(
                code, name_id, name_en, apco, priority, radius, window, frozenset(compatible)
            )
    for code, category in categories.items():
        for other in sorted(category.compatible_with):
            if other == code:
                problems.append(Problem(file, code, "compatible_with names the category itself"))
            elif other not in categories:
                problems.append(Problem(file, code, f"compatible_with: unknown category {other!r}"))
            elif code not in categories[other].compatible_with:
                problems.append(
                    Problem(
                        file, code, f"compatible_with {other!r}, but {other!r} does not list it"
                    )
                )
    return categories


def _read_agencies(
    problems: list[Problem], data: object, refs: _ZoneRefs
) -> tuple[dict[str, Agency], float, float]:
    file = AGENCIES_FILE
    _Fields(problems, file, "-", data, ["eta", "agency"])
    eta = _Fields(
        problems,
        file,
        "eta",
        data.get("eta") if isinstance(data, dict) else None,
        ["road_factor", "speed_kmh"],
    )
    road_factor = eta.number("road_factor") or 0.0
    speed_kmh = eta.number("speed_kmh") or 0.0
    if road_factor < 1.0:
        eta.report("road_factor must be >= 1 (roads are never shorter than the straight line)")
    if speed_kmh <= 0.0:
        eta.report("speed_kmh must be positive")
    agencies: dict[str, Agency] = {}
    post_ids: set[str] = set()
    unit_ids: set[str] = set()
    for n, item in enumerate(_tables(problems, file, data, "agency"), start=1):
        where = _where(item, "code", f"agency #{n}")
        f = _Fields(
            problems,
            file,
            where,
            item,
            ["code", "name_id", "name_en", "kind", "channel", "note", "post", "unit"],
        )
        code, name_id, name_en = f.text("code"), f.text("name_id"), f.text("name_en")
        kind, channel = f.text("kind"), f.text("channel")
        note = f.text("note", required=False) or ""
        if kind is not None and kind not in _AGENCY_KINDS:
            f.report(f"kind must be one of {sorted(_AGENCY_KINDS)}, not {kind!r}")
        if channel is not None and channel not in _CHANNELS:
            f.report(f"channel must be one of {sorted(_CHANNELS)}, not {channel!r}")
        posts = [
            post
            for m, raw in enumerate(_tables(problems, file, item, "post"), start=1)
            if (post := _read_post(problems, where, m, raw, refs, post_ids)) is not None
        ]
        own_posts = {p.id for p in posts}
        units = [
            unit
            for m, raw in enumerate(_tables(problems, file, item, "unit"), start=1)
            if (unit := _read_unit(problems, where, m, raw, own_posts, unit_ids)) is not None
        ]
        if code is not None and code in agencies:
            f.report("duplicate agency code")
            continue
        if code and name_id and name_en and kind and channel:
            agencies[code] = Agency(
                code, name_id, name_en, kind, channel, note, tuple(posts), tuple(units)
            )
    return agencies, road_factor, speed_kmh


def _read_post(
    problems: list[Problem],
    agency: str,
    n: int,
    item: object,
    refs: _ZoneRefs,
    seen: set[str],
) -> Post | None:
    where = f"{agency}/{_where(item, 'id', f'post #{n}')}"
    f = _Fields(
        problems,
        AGENCIES_FILE,
        where,
        item,
        ["id", "name", "kelurahan", "lat", "lon", "coord_source", "coord_note", "facility"],
    )
    post_id, name, kelurahan = f.text("id"), f.text("name"), f.text("kelurahan")
    lat, lon = f.number("lat"), f.number("lon")
    coord_source = f.text("coord_source")
    coord_note = f.text("coord_note", required=False) or ""
    facility = f.text("facility", required=False)
    if post_id is not None:
        if post_id in seen:
            f.report("duplicate post id")
            return None
        seen.add(post_id)
    zone = refs.zones.get(kelurahan) if kelurahan else None
    if kelurahan is not None and (zone is None or zone.zone.kind is not ZoneKind.KELURAHAN):
        f.report(f"unknown kelurahan {kelurahan!r}")
    elif zone is not None and lat is not None and lon is not None:
        # Degrees to metres near the equator: 1e-5 degree ~ 1.1 m, ample for this check.
        off_m = zone.geometry.distance(shapely.Point(lon, lat)) * 111_320
        if off_m > BORDER_TOLERANCE_M:
            f.report(f"point lies ~{off_m:.0f} m outside its kelurahan {kelurahan!r}")
    if post_id and name and kelurahan and lat is not None and lon is not None and coord_source:
        return Post(post_id, name, kelurahan, lat, lon, coord_source, coord_note, facility)
    return None


def _read_unit(
    problems: list[Problem],
    agency: str,
    n: int,
    item: object,
    own_posts: set[str],
    seen: set[str],
) -> Unit | None:
    where = f"{agency}/{_where(item, 'id', f'unit #{n}')}"
    f = _Fields(problems, AGENCIES_FILE, where, item, ["id", "type", "post", "capacity", "note"])
    unit_id, unit_type, post = f.text("id"), f.text("type"), f.text("post")
    capacity = f.integer("capacity")
    note = f.text("note", required=False) or ""
    if unit_id is not None:
        if unit_id in seen:
            f.report("duplicate unit id")
            return None
        seen.add(unit_id)
    if post is not None and post not in own_posts:
        f.report(f"unknown post {post!r} (not a post of {agency})")
        return None
    if capacity is not None and capacity < 1:
        f.report("capacity must be at least 1")
        return None
    if unit_id and unit_type and post and capacity:
        return Unit(unit_id, unit_type, post, capacity, note)
    return None


_RULE_KEYS: Final = (
    "id",
    "description",
    "categories",
    "zones",
    "time",
    "priorities",
    "out_of_area",
    "primary",
    "support",
    "fallback",
    "evidence",
)


def _read_rules(
    problems: list[Problem],
    data: object,
    categories: Mapping[str, Category],
    agencies: Mapping[str, Agency],
    refs: _ZoneRefs,
) -> tuple[Rule, ...]:
    file = RULES_FILE
    _Fields(problems, file, "-", data, ["rule"])
    rules: list[Rule] = []
    for n, item in enumerate(_tables(problems, file, data, "rule"), start=1):
        where = _where(item, "id", f"rule #{n}")
        f = _Fields(problems, file, where, item, _RULE_KEYS)
        rule_id, description = f.text("id"), f.text("description")
        evidence = f.text("evidence", required=False) or ""
        cats, zones = f.texts("categories"), f.texts("zones")
        time, priorities = f.text("time", required=False), f.integers("priorities")
        out_of_area = f.flag("out_of_area")
        primary, support = f.texts("primary", required=True), f.texts("support") or ()
        fallback = f.text("fallback", required=False)
        for code in cats or ():
            if code not in categories:
                f.report(f"unknown category {code!r}")
        area, other = (refs.outside, refs.city) if out_of_area else (refs.city, refs.outside)
        for zone in zones or ():
            if zone in area:
                continue
            if zone in other:
                side = "inside" if out_of_area else "outside"
                f.report(f"zone {zone!r} is {side} the city, where this rule never applies")
            else:
                f.report(f"unknown zone {zone!r}")
        minutes = None
        if time is not None:
            parsed = _parse_minutes(time)
            if isinstance(parsed, str):
                f.report(parsed)
            else:
                minutes = parsed
        for p in priorities or ():
            if p not in PRIORITIES:
                f.report(f"priority must be 1 (highest) .. 4, not {p}")
        if primary is not None and not primary:
            f.report("'primary' needs at least one agency")
        chosen = [*(primary or ()), *support]
        for code in chosen:
            if code not in agencies:
                f.report(f"unknown agency {code!r}")
        for code in sorted({c for c in chosen if chosen.count(c) > 1}):
            f.report(f"agency {code!r} is named twice")
        if fallback is not None and fallback not in agencies:
            f.report(f"unknown fallback agency {fallback!r}")
        elif fallback is not None and fallback in chosen:
            f.report(f"fallback agency {fallback!r} is already dispatched by this rule")
        for empty in ("categories", "zones", "priorities"):
            if isinstance(item, dict) and item.get(empty) == []:
                f.report(f"{empty!r} is empty: the rule can never match (omit it to match all)")
        if rule_id is None:
            continue
        if any(r.id == rule_id for r in rules):
            f.report("duplicate rule id")
            continue
        rule = Rule(
            id=rule_id,
            description=description or "",
            categories=frozenset(cats) if cats is not None else None,
            zones=frozenset(zones) if zones is not None else None,
            time=time,
            minutes=minutes,
            priorities=frozenset(priorities) if priorities is not None else None,
            out_of_area=out_of_area,
            primary=primary or (),
            support=support,
            evidence=evidence,
            fallback=fallback,
        )
        shadow = next((r for r in rules if _covers(r, rule, refs.parent)), None)
        if shadow is not None:
            f.report(f"never reached: earlier rule {shadow.id!r} matches everything it matches")
        rules.append(rule)
    for code in categories:
        for out_of_area, scope in ((False, "in the city"), (True, "out of area")):
            if not any(_serves_always(r, code, out_of_area) for r in rules):
                problems.append(
                    Problem(
                        file,
                        code,
                        f"no rule serves this category {scope} everywhere and at all times "
                        "(add one without zones, time and priorities)",
                    )
                )
    return tuple(rules)


def _serves_always(rule: Rule, category: str, out_of_area: bool) -> bool:
    return (
        rule.out_of_area == out_of_area
        and (rule.categories is None or category in rule.categories)
        and rule.zones is None
        and rule.minutes is None
        and rule.priorities is None
    )


_T = TypeVar("_T")


def _superset(wider: frozenset[_T] | None, narrower: frozenset[_T] | None) -> bool:
    """None means "all"."""
    return wider is None or (narrower is not None and narrower <= wider)


def _covers(earlier: Rule, later: Rule, parent: Mapping[str, str]) -> bool:
    """True when `earlier` matches every incident `later` matches, so `later` never decides."""
    if earlier.zones is None:
        zones_covered = True
    elif later.zones is None:
        zones_covered = False
    else:
        zones_covered = all(
            z in earlier.zones or parent.get(z) in earlier.zones for z in later.zones
        )
    return (
        earlier.out_of_area == later.out_of_area
        and zones_covered
        and _superset(earlier.categories, later.categories)
        and _superset(earlier.minutes, later.minutes)
        and _superset(earlier.priorities, later.priorities)
    )
