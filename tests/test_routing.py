"""Routing engine: zones, rules, units and validation of `routing_rules/` (no database)."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import shapely
from geopy.distance import geodesic
from shapely.geometry import Point, shape

from dispatch.routing import (
    DEFAULT_RULES_DIR,
    WIB,
    AgencyChoice,
    Role,
    RoutingTable,
    RulesError,
    UnknownCategory,
    dump_route,
)

SHARED = Path(__file__).parents[2] / "shared"
SERANG = SHARED / "data" / "serang"
NOON = datetime(2026, 1, 5, 12, 0, tzinfo=WIB)


def _kelurahan_points() -> list[dict[str, str]]:
    with (SERANG / "kota_serang_kelurahan_points.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


POINTS = _kelurahan_points()
POINT_IDS = [f"{p['kode']}-{p['kelurahan']}" for p in POINTS]
BY_NAME = {p["kelurahan"]: p for p in POINTS}


def _inside(name: str) -> tuple[float, float]:
    row = BY_NAME[name]
    return float(row["inside_lat"]), float(row["inside_lng"])


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return RoutingTable.load(DEFAULT_RULES_DIR)


# --------------------------------------------------------------------------- zones


@pytest.mark.parametrize("row", POINTS, ids=POINT_IDS)
def test_every_kelurahan_inside_point_lands_in_its_own_kelurahan_and_kecamatan(
    table: RoutingTable, row: dict[str, str]
) -> None:
    route = table.route(float(row["inside_lat"]), float(row["inside_lng"]), "medis", now=NOON)
    assert (route.zone, route.zone_name) == (row["kode"], row["kelurahan"])
    assert route.kecamatan == row["kecamatan_kode"]
    assert not route.out_of_area
    assert route.handover is None


@pytest.mark.parametrize("row", POINTS, ids=POINT_IDS)
def test_fire_anywhere_in_the_city_goes_to_damkar_primary_by_rule_kebakaran_kota(
    table: RoutingTable, row: dict[str, str]
) -> None:
    route = table.route(float(row["inside_lat"]), float(row["inside_lng"]), "kebakaran", now=NOON)
    assert route.agencies[0] == AgencyChoice("DAMKAR", Role.PRIMARY)
    assert route.primary == ("DAMKAR",)
    assert route.rule_id == "kebakaran-kota"
    assert route.ruleset_version == table.version


def _neighbour_points() -> list[tuple[str, str, float, float]]:
    data = json.loads((DEFAULT_RULES_DIR / "neighbours.geojson").read_text(encoding="utf-8"))
    wanted = {"Kramatwatu", "Ciruas", "Baros", "Pontang", "Cikeusal", "Cibeber"}
    found = []
    for feature in data["features"]:
        props = feature["properties"]
        if props["nama"] in wanted:
            point = shape(feature["geometry"]).representative_point()
            found.append((props["nama"], props["kabkota"], point.y, point.x))
    return found


@pytest.mark.parametrize(
    ("kecamatan", "kabkota", "lat", "lon"), _neighbour_points(), ids=lambda v: str(v)
)
def test_points_in_neighbouring_kecamatan_are_out_of_area_yet_dispatched_with_handover(
    table: RoutingTable, kecamatan: str, kabkota: str, lat: float, lon: float
) -> None:
    route = table.route(lat, lon, "kriminal", now=NOON)
    assert route.out_of_area
    assert route.zone is None
    assert route.handover == f"Kec. {kecamatan}, {kabkota}"
    assert route.rule_id == "luar-kota"
    assert route.primary == ("POLRESTA",)


def test_medical_call_from_kabupaten_serang_is_dispatched_and_flagged_for_handover(
    table: RoutingTable,
) -> None:
    kramatwatu = next(p for p in _neighbour_points() if p[0] == "Kramatwatu")
    route = table.route(kramatwatu[2], kramatwatu[3], "medis", now=NOON)
    assert route.out_of_area
    assert route.handover == "Kec. Kramatwatu, Kabupaten Serang"
    assert route.rule_id == "luar-kota-medis"
    assert route.agencies[0] == AgencyChoice("DINKES", Role.PRIMARY)
    assert route.units[0].agency == "DINKES"


def test_point_far_from_every_mapped_zone_is_still_dispatched_with_a_generic_handover(
    table: RoutingTable,
) -> None:
    route = table.route(-6.2, 106.8, "kebakaran", now=NOON)  # Jakarta
    assert route.out_of_area
    assert route.kecamatan is None
    assert route.handover is not None
    assert "hand over" in route.handover
    assert route.primary == ("DAMKAR",)


def _metres_per_degree(lat: float, lon: float) -> tuple[float, float]:
    step = 0.001
    return (
        geodesic((lat, lon), (lat, lon + step)).m / step,
        geodesic((lat, lon), (lat + step, lon)).m / step,
    )


def _outside_points(offset_m: float) -> list[tuple[float, float, str]]:
    """Points `offset_m` outside the city outline, off the middle of 12 spread edges."""
    city = shape(
        json.loads((SERANG / "kota_serang_boundary.geojson").read_text(encoding="utf-8"))[
            "features"
        ][0]["geometry"]
    )
    kelurahan = [
        (f["properties"]["kode"], shape(f["geometry"]))
        for f in json.loads((SERANG / "kota_serang_kelurahan.geojson").read_text())["features"]
    ]
    ring = list(city.exterior.coords)
    found: list[tuple[float, float, str]] = []
    for n in range(0, len(ring) - 1, (len(ring) - 1) // 12):
        (x1, y1), (x2, y2) = ring[n], ring[n + 1]
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        kx, ky = _metres_per_degree(my, mx)
        ex, ey = (x2 - x1) * kx, (y2 - y1) * ky
        length = math.hypot(ex, ey)
        if length < 30:  # too short an edge to have a clear outward side
            continue
        for side in (1, -1):
            nx, ny = side * ey / length, -side * ex / length
            px, py = mx + nx * offset_m / kx, my + ny * offset_m / ky
            if not city.contains(Point(px, py)):
                break
        # Keep points whose nearest city edge is this one (not a nearby bend of the outline).
        nearest = shapely.shortest_line(city.exterior, Point(px, py)).coords[0]
        if abs(geodesic((py, px), (nearest[1], nearest[0])).m - offset_m) > 1.0:
            continue
        owner = min(kelurahan, key=lambda k: k[1].distance(Point(px, py)))[0]
        found.append((py, px, owner))
    assert len(found) >= 8
    return found


@pytest.mark.parametrize(("lat", "lon", "kelurahan"), _outside_points(5.0))
def test_point_5_m_outside_the_city_edge_lands_in_the_kelurahan_of_that_edge(
    table: RoutingTable, lat: float, lon: float, kelurahan: str
) -> None:
    route = table.route(lat, lon, "medis", now=NOON)
    assert not route.out_of_area
    assert route.zone == kelurahan


@pytest.mark.parametrize(("lat", "lon", "kelurahan"), _outside_points(100.0))
def test_point_100_m_outside_the_city_edge_is_out_of_area(
    table: RoutingTable, lat: float, lon: float, kelurahan: str
) -> None:
    route = table.route(lat, lon, "medis", now=NOON)
    assert route.out_of_area
    assert route.zone is None
    assert route.handover


def test_point_on_a_border_between_two_kelurahan_goes_to_the_lower_zone_id(
    table: RoutingTable,
) -> None:
    data = json.loads((DEFAULT_RULES_DIR / "kelurahan.geojson").read_text(encoding="utf-8"))
    geoms = {f["properties"]["kode"]: shape(f["geometry"]) for f in data["features"]}
    shared_edge = geoms["36.73.01.1001"].boundary.intersection(geoms["36.73.01.1002"].boundary)
    point = shared_edge.representative_point()
    assert table.locate(point.y, point.x).zone == "36.73.01.1001"


def test_point_on_the_toll_corridor_reports_the_special_zone_and_uses_its_rule(
    table: RoutingTable,
) -> None:
    lat, lon = -6.126, 106.170  # a vertex of the drawn toll alignment, in the city
    route = table.route(lat, lon, "kecelakaan", now=NOON)
    assert route.special_zones == ("tol_tangerang_merak",)
    assert not route.out_of_area
    assert route.rule_id == "kecelakaan-tol"
    assert route.primary == ("POLRESTA",)


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("category", "at", "rule", "primary"),
    [
        ("pohon_tumbang", datetime(2026, 1, 5, 7, 0, tzinfo=WIB), "pohon-tumbang-jam-kerja", "DLH"),
        (
            "pohon_tumbang",
            datetime(2026, 1, 5, 15, 59, tzinfo=WIB),
            "pohon-tumbang-jam-kerja",
            "DLH",
        ),
        ("pohon_tumbang", datetime(2026, 1, 5, 16, 0, tzinfo=WIB), "pohon-tumbang", "BPBD"),
        ("pohon_tumbang", datetime(2026, 1, 5, 3, 0, tzinfo=UTC), "pohon-tumbang-jam-kerja", "DLH"),
        ("pohon_tumbang", datetime(2026, 1, 5, 10, 0, tzinfo=UTC), "pohon-tumbang", "BPBD"),
        ("ketertiban", datetime(2026, 1, 5, 23, 30, tzinfo=WIB), "ketertiban-malam", "POLRESTA"),
        ("ketertiban", datetime(2026, 1, 6, 2, 0, tzinfo=WIB), "ketertiban-malam", "POLRESTA"),
        ("ketertiban", datetime(2026, 1, 6, 5, 0, tzinfo=WIB), "ketertiban-kota", "SATPOLPP"),
        ("ketertiban", datetime(2026, 1, 5, 12, 0, tzinfo=WIB), "ketertiban-kota", "SATPOLPP"),
    ],
)
def test_time_of_day_rules_follow_wib_whatever_the_offset_of_now(
    table: RoutingTable, category: str, at: datetime, rule: str, primary: str
) -> None:
    route = table.route(*_inside("Cipare"), category, now=at)
    assert (route.rule_id, route.primary) == (rule, (primary,))


@pytest.mark.parametrize(
    ("category", "kelurahan", "priority", "rule", "agencies"),
    [
        ("kecelakaan", "Kasemen", None, "kecelakaan-kota", ["POLRESTA", "DINKES"]),
        ("kecelakaan", "Kasemen", 1, "kecelakaan-berat", ["DINKES", "POLRESTA", "DAMKAR"]),
        ("kebakaran", "Kasemen", 4, "kebakaran-kecil", ["DAMKAR"]),
        ("medis", "Serang", None, "medis-kota", ["DINKES", "RSUD"]),
        ("kriminal", "Serang", None, "kriminal-kota", ["POLRESTA"]),
        ("banjir", "Kasemen", None, "banjir-kasemen", ["BPBD", "DINSOS", "BASARNAS", "PUPR"]),
        ("banjir", "Serang", None, "banjir-kota", ["BPBD", "DINSOS", "PUPR"]),
        ("penyelamatan", "Banten", None, "penyelamatan-pesisir", ["BASARNAS", "DAMKAR", "DINKES"]),
        ("penyelamatan", "Serang", None, "penyelamatan-kota", ["DAMKAR", "DINKES"]),
        ("hewan", "Taktakan", None, "hewan-kota", ["DAMKAR"]),
        ("listrik", "Curug", None, "listrik-kota", ["PLN", "DAMKAR"]),
        ("lainnya", "Curug", None, "fallback-kota", ["SATPOLPP", "POLRESTA"]),
    ],
)
def test_category_zone_and_priority_pick_the_rule_and_its_agencies_primary_first(
    table: RoutingTable,
    category: str,
    kelurahan: str,
    priority: int | None,
    rule: str,
    agencies: list[str],
) -> None:
    route = table.route(*_inside(kelurahan), category, now=NOON, priority=priority)
    assert route.rule_id == rule
    assert [c.agency for c in route.agencies] == agencies
    assert [c.role for c in route.agencies] == [Role.PRIMARY] + [Role.SUPPORT] * (len(agencies) - 1)


def test_every_category_routes_everywhere_in_the_city_at_every_priority(
    table: RoutingTable,
) -> None:
    for row in POINTS[::5]:
        for category in table.categories:
            for priority in (1, 2, 3, 4):
                lat, lon = float(row["inside_lat"]), float(row["inside_lng"])
                route = table.route(lat, lon, category, now=NOON, priority=priority)
                assert route.agencies[0].role is Role.PRIMARY


def test_unknown_category_raises_naming_the_code(table: RoutingTable) -> None:
    with pytest.raises(UnknownCategory, match="'kebakran'") as caught:
        table.route(*_inside("Serang"), "kebakran", now=NOON)
    assert caught.value.code == "kebakran"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("lat", "lon", "now", "priority", "message"),
    [
        (-6.12, 106.15, datetime(2026, 1, 5, 12, 0), None, "timezone-aware"),  # noqa: DTZ001
        (-6.12, 106.15, NOON, 5, "priority"),
        (math.nan, 106.15, NOON, None, "WGS84"),
        (-6.12, 200.0, NOON, None, "WGS84"),
    ],
)
def test_route_rejects_naive_time_bad_priority_and_impossible_coordinates(
    table: RoutingTable,
    lat: float,
    lon: float,
    now: datetime,
    priority: int | None,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        table.route(lat, lon, "medis", now=now, priority=priority)


# --------------------------------------------------------------------------- units


def test_unit_advice_gives_up_to_three_nearest_free_units_per_agency_in_agency_order(
    table: RoutingTable,
) -> None:
    route = table.route(*_inside("Kasemen"), "kebakaran", now=NOON)
    assert list(dict.fromkeys(u.agency for u in route.units)) == ["DAMKAR", "DINKES"]
    damkar = [u for u in route.units if u.agency == "DAMKAR"]
    assert len(damkar) == min(3, len(table.agencies["DAMKAR"].units))
    assert [u.distance_m for u in damkar] == sorted(u.distance_m for u in damkar)
    # Pos Damkar Kasemen and Puskesmas Kasemen sit at this very point (project estimates).
    assert damkar[0].unit_id == "DMK-03"
    assert next(u for u in route.units if u.agency == "DINKES").unit_id == "AMB-119-03"
    assert route.units[0].distance_m == 0


def test_busy_units_are_skipped_for_the_next_nearest(table: RoutingTable) -> None:
    here = _inside("Kasemen")
    route = table.route(*here, "kebakaran", now=NOON, busy_units=frozenset({"DMK-03"}))
    assert route.units[0].unit_id == "DMK-05"  # the other unit at the same post
    route = table.route(*here, "kebakaran", now=NOON, busy_units=frozenset({"DMK-03", "DMK-05"}))
    assert route.units[0].unit_id == "DMK-01"  # the first unit at the main post
    assert route.units[0].distance_m > 3000


def test_agency_with_every_unit_busy_is_still_dispatched_without_unit_advice(
    table: RoutingTable,
) -> None:
    busy = frozenset(u.id for u in table.agencies["POLRESTA"].units)
    route = table.route(*_inside("Serang"), "kriminal", now=NOON, busy_units=busy)
    assert route.primary == ("POLRESTA",)
    assert route.units == ()


@pytest.mark.parametrize("kelurahan", ["Banten", "Cibendung", "Nyapah", "Tinggar", "Serang"])
def test_unit_distance_agrees_with_geopy_geodesic_and_eta_uses_the_stated_assumptions(
    table: RoutingTable, kelurahan: str
) -> None:
    lat, lon = _inside(kelurahan)
    route = table.route(lat, lon, "medis", now=NOON)
    unit = route.units[0]
    post = next(p for p in table.agencies[unit.agency].posts if p.id == unit.post)
    exact = geodesic((lat, lon), (post.lat, post.lon)).m
    assert abs(unit.distance_m - exact) <= 5 + exact * 0.001  # 10 m steps, projection
    expected_eta = unit.distance_m * table.road_factor / (table.speed_kmh / 3.6)
    assert unit.eta_s == pytest.approx(expected_eta, abs=1)
    assert (table.road_factor, table.speed_kmh) == (1.4, 30.0)


# --------------------------------------------------------------------------- reference data


def test_agencies_are_the_fourteen_codes_nine_opd_and_five_vertical(table: RoutingTable) -> None:
    assert list(table.agencies) == [
        "DAMKAR", "SATPOLPP", "DINKES", "RSUD", "BPBD", "DISHUB", "DINSOS", "DLH", "PUPR",
        "POLRESTA", "KODIM", "PLN", "BASARNAS", "PMI",
    ]  # fmt: skip
    kinds = [a.kind for a in table.agencies.values()]
    assert (kinds.count("opd"), kinds.count("vertical")) == (9, 5)


def test_every_post_says_where_its_coordinate_comes_from(table: RoutingTable) -> None:
    posts = [p for a in table.agencies.values() for p in a.posts]
    assert posts
    assert all(p.coord_source == "project estimate" for p in posts)
    text = (DEFAULT_RULES_DIR / "agencies.toml").read_text(encoding="utf-8")
    assert "project estimate" in text.split("[[agency]]")[0]  # the header explains it


def test_required_category_codes_exist_in_file_order(table: RoutingTable) -> None:
    required = [
        "kebakaran", "kecelakaan", "medis", "kriminal", "banjir", "bencana", "pohon_tumbang",
        "hewan", "penyelamatan", "listrik", "ketertiban", "lainnya",
    ]  # fmt: skip
    codes = list(table.categories)
    assert set(required) <= set(codes)
    assert codes[0] == "kebakaran"
    assert codes[-1] == "lainnya"


def _apco_codes() -> set[str]:
    text = (SHARED / "standards" / "eido" / "apco.yaml").read_text(encoding="utf-8")
    block = text.split("apcoIncidentCategoryCodeSimpleType:\n", 1)[1]
    enum = block.split("enum:\n", 1)[1]
    codes = set()
    for line in enum.splitlines():
        match = re.fullmatch(r"\s+- (\S+)", line)
        if match is None:
            break
        codes.add(match.group(1))
    assert len(codes) == 197  # the count stated in shared/standards/README.md
    return codes


def test_every_category_maps_to_an_apco_incident_category_code(table: RoutingTable) -> None:
    codes = _apco_codes()
    assert {c.code: c.apco for c in table.categories.values() if c.apco not in codes} == {}


def test_compatible_categories_include_fire_with_electrical_and_accident_with_medical(
    table: RoutingTable,
) -> None:
    assert "listrik" in table.categories["kebakaran"].compatible_with
    assert "kebakaran" in table.categories["listrik"].compatible_with
    assert "medis" in table.categories["kecelakaan"].compatible_with


def test_zones_geojson_is_a_small_feature_collection_of_kelurahan_and_special_zones(
    table: RoutingTable,
) -> None:
    collection = table.zones_geojson()
    text = json.dumps(collection)
    features = collection["features"]
    assert isinstance(features, list)
    kinds = [f["properties"]["kind"] for f in features]
    assert (kinds.count("kelurahan"), kinds.count("special")) == (67, 1)
    first = features[0]
    assert first["properties"]["kecamatan"] == "36.73.01"
    assert len(text) < 150_000
    assert not re.search(r"\d\.\d{6}", text)  # coordinates rounded to 5 decimals


def test_route_dumps_to_json_with_rule_and_ruleset_version(table: RoutingTable) -> None:
    route = table.route(*_inside("Serang"), "kebakaran", now=NOON)
    data = json.loads(json.dumps(dump_route(route)))
    assert data["rule"] == "kebakaran-kota"
    assert data["ruleset_version"] == table.version
    assert data["agencies"][0] == {"agency": "DAMKAR", "role": "primary"}
    assert data["units"][0]["agency"] == "DAMKAR"


# --------------------------------------------------------------------------- validation


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, target)
    return target


def edit(directory: Path, name: str, old: str, new: str) -> None:
    """Replace the first occurrence of `old` in one rule-set file."""
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(RulesError) as caught:
        RoutingTable.load(directory)
    return [str(p) for p in caught.value.problems]


def test_version_is_a_content_hash_that_changes_when_a_file_changes(
    table: RoutingTable, rules_copy: Path
) -> None:
    assert re.fullmatch(r"[0-9a-f]{12}", table.version)
    assert RoutingTable.load(rules_copy).version == table.version
    edit(rules_copy, "rules.toml", "# Routing rules", "# Edited routing rules")
    assert RoutingTable.load(rules_copy).version != table.version


RULES, CATS, AGENCIES = "rules.toml", "categories.toml", "agencies.toml"


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        pytest.param(
            RULES,
            'priorities = [3, 4]\nprimary = ["DAMKAR"]',
            'priorities = [3, 4]\nprimary = ["DAMKR"]',
            "rules.toml: kebakaran-kecil: unknown agency 'DAMKR'",
            id="unknown-agency",
        ),
        pytest.param(
            RULES,
            'categories = ["kriminal"]',
            'categories = ["krimnal"]',
            "rules.toml: kriminal-kota: unknown category 'krimnal'",
            id="unknown-category",
        ),
        pytest.param(
            RULES,
            'zones = ["36.73.02"]',
            'zones = ["36.73.99"]',
            "rules.toml: banjir-kasemen: unknown zone '36.73.99'",
            id="unknown-zone",
        ),
        pytest.param(
            RULES,
            'zones = ["36.73.02"]',
            'zones = ["36.04.05"]',
            "rules.toml: banjir-kasemen: zone '36.04.05' is outside the city",
            id="zone-on-the-wrong-side",
        ),
        pytest.param(
            RULES,
            '[[rule]]\nid = "kecelakaan-tol"',
            '[[rule]]\nid = "hewan-semua"\ndescription = "x"\ncategories = ["hewan"]\n'
            'primary = ["BPBD"]\n\n[[rule]]\nid = "kecelakaan-tol"',
            "rules.toml: hewan-kota: never reached: earlier rule 'hewan-semua'",
            id="shadowed-rule",
        ),
        pytest.param(
            RULES,
            'categories = ["banjir"]\nprimary = ["BPBD"]\nsupport = ["DINSOS", "PUPR"]',
            'categories = ["banjir"]\nzones = ["36.73.02.1001"]\nprimary = ["BPBD"]\n'
            'support = ["DINSOS", "PUPR"]',
            "rules.toml: banjir-kota: never reached: earlier rule 'banjir-kasemen'",
            id="kelurahan-rule-shadowed-by-its-kecamatan-rule",
        ),
        pytest.param(
            RULES,
            'id = "fallback-kota"',
            'id = "fallback-kota"\ncategories = ["hewan"]',
            "rules.toml: lainnya: no rule serves this category in the city",
            id="category-without-a-rule",
        ),
        pytest.param(
            RULES,
            'id = "kebakaran-kecil"',
            'id = "kebakaran-kota"',
            "rules.toml: kebakaran-kota: duplicate rule id",
            id="duplicate-rule-id",
        ),
        pytest.param(
            RULES,
            'time = "22:00-05:00"',
            'time = "25:00-05:00"',
            "rules.toml: ketertiban-malam: time '25:00-05:00' has an hour or minute out of range",
            id="time-out-of-range",
        ),
        pytest.param(
            RULES,
            'time = "22:00-05:00"',
            'time = "22:00-22:00"',
            "rules.toml: ketertiban-malam: time '22:00-22:00' is empty",
            id="time-empty",
        ),
        pytest.param(
            RULES,
            "priorities = [1]",
            "priorities = [0]",
            "rules.toml: kecelakaan-berat: priority must be 1 (highest) .. 4, not 0",
            id="rule-priority",
        ),
        pytest.param(
            RULES,
            'primary = ["POLRESTA"]\nsupport = ["DINKES", "DAMKAR", "DISHUB"]',
            'primay = ["POLRESTA"]\nsupport = ["DINKES", "DAMKAR", "DISHUB"]',
            "rules.toml: kecelakaan-tol: unknown key 'primay'",
            id="misspelt-key",
        ),
        pytest.param(
            CATS,
            "priority = 1",
            "priority = 5",
            "categories.toml: kebakaran: priority must be 1 (highest) .. 4, not 5",
            id="category-priority",
        ),
        pytest.param(
            CATS,
            'compatible_with = ["kebakaran", "pohon_tumbang"]',
            'compatible_with = ["pohon_tumbang"]',
            "categories.toml: kebakaran: compatible_with 'listrik', but 'listrik' does not list it",
            id="asymmetric-compatibility",
        ),
        pytest.param(
            CATS,
            'code = "medis"',
            'code = "kecelakaan"',
            "categories.toml: kecelakaan: duplicate category code",
            id="duplicate-category",
        ),
        pytest.param(
            AGENCIES,
            'id = "DMK-02"',
            'id = "DMK-01"',
            "agencies.toml: DAMKAR/DMK-01: duplicate unit id",
            id="duplicate-unit",
        ),
        pytest.param(
            AGENCIES,
            'code = "PMI"',
            'code = "PLN"',
            "agencies.toml: PLN: duplicate agency code",
            id="duplicate-agency",
        ),
        pytest.param(
            AGENCIES,
            "lat = -6.11397\nlon = 106.15405",
            "lat = -6.2\nlon = 106.15405",
            "agencies.toml: DAMKAR/damkar-mako: point lies ~",
            id="post-outside-its-kelurahan",
        ),
        pytest.param(
            AGENCIES,
            "speed_kmh = 30.0",
            "speed_kmh = 0",
            "agencies.toml: eta: speed_kmh must be positive",
            id="eta-speed",
        ),
        pytest.param(
            "special_zones.geojson",
            '"id": "tol_tangerang_merak"',
            '"id": "36.73.01.1001"',
            "special_zones.geojson: 36.73.01.1001: duplicate zone id (also in kelurahan.geojson)",
            id="duplicate-zone-id",
        ),
    ],
)
def test_loader_reports_each_kind_of_error_with_file_and_where(
    rules_copy: Path, name: str, old: str, new: str, expected: str
) -> None:
    edit(rules_copy, name, old, new)
    problems = problems_of(rules_copy)
    assert any(p.startswith(expected) for p in problems), problems


def test_invalid_polygon_is_reported_with_its_zone_id(rules_copy: Path) -> None:
    path = rules_copy / "special_zones.geojson"
    data = json.loads(path.read_text(encoding="utf-8"))
    bow_tie = [[106.1, -6.1], [106.2, -6.2], [106.2, -6.1], [106.1, -6.2], [106.1, -6.1]]
    data["features"][0]["geometry"] = {"type": "Polygon", "coordinates": [bow_tie]}
    path.write_text(json.dumps(data), encoding="utf-8")
    problems = problems_of(rules_copy)
    assert any(
        p.startswith("special_zones.geojson: tol_tangerang_merak: invalid polygon: Self-inters")
        for p in problems
    ), problems


def test_loader_collects_every_problem_and_prints_one_per_line(rules_copy: Path) -> None:
    edit(rules_copy, RULES, 'categories = ["kriminal"]', 'categories = ["krimnal"]')
    edit(rules_copy, AGENCIES, "capacity = 6", "capacity = 0")
    (rules_copy / "kecamatan.geojson").unlink()
    with pytest.raises(RulesError) as caught:
        RoutingTable.load(rules_copy)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems) >= 3
    assert any(line.startswith("kecamatan.geojson: -: cannot read") for line in lines)
    assert any(line.startswith("rules.toml: kriminal-kota: unknown category") for line in lines)
    assert "agencies.toml: DAMKAR/DMK-01: capacity must be at least 1" in lines


def test_decision_without_unit_advice_is_the_same_decision(table: RoutingTable) -> None:
    here = _inside("Kasemen")
    full = table.route(*here, "kebakaran", now=NOON)
    bare = table.route(*here, "kebakaran", now=NOON, units=False)
    assert bare.units == ()
    assert (bare.rule_id, bare.agencies, bare.zone) == (full.rule_id, full.agencies, full.zone)
