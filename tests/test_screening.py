"""Table-driven tests of the pure screening core: caller record, duplicates, outcome counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from geopy.distance import geodesic

from dispatch.screening import (
    BlockPolicy,
    CallerHistory,
    DuplicateWindow,
    IncidentIndex,
    OpenIncident,
    Outcome,
    PastCall,
    count_outcomes,
    distance_m,
    find_duplicates,
    meters_per_degree,
    screen_caller,
)

# 10:00 WIB: daytime, so the night signal stays out of the way unless a case asks for it.
NOW = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
POLICY = BlockPolicy()
H = timedelta(hours=1)
M = timedelta(minutes=1)
# The cases' own windows and compatibility (the real ones are data in categories.toml).
WINDOWS = {
    "kebakaran": DuplicateWindow(radius_m=1000, window_s=2 * 3600),
    "medis": DuplicateWindow(radius_m=200, window_s=1800),
    "banjir": DuplicateWindow(radius_m=1500, window_s=12 * 3600),
    "hewan": DuplicateWindow(radius_m=200, window_s=3 * 3600),
    "listrik": DuplicateWindow(radius_m=500, window_s=3 * 3600),
    "penyelamatan": DuplicateWindow(radius_m=300, window_s=2 * 3600),
}
COMPATIBLE = {
    "kebakaran": frozenset({"listrik", "penyelamatan", "medis", "lainnya"}),
    "listrik": frozenset({"kebakaran", "lainnya"}),
    "medis": frozenset({"kebakaran", "lainnya"}),
    "hewan": frozenset({"penyelamatan", "lainnya"}),
    "penyelamatan": frozenset({"kebakaran", "hewan", "lainnya"}),
    "banjir": frozenset({"lainnya"}),
    "kecelakaan": frozenset({"lainnya"}),
    "lainnya": frozenset({"kebakaran", "listrik", "medis", "hewan", "penyelamatan", "banjir"}),
}
# Alun-alun Kota Serang, roughly; all duplicate cases are placed around it.
LAT, LON = -6.1200, 106.1500
M_LAT, M_LON = meters_per_degree(LAT)


def call(
    ago: timedelta,
    outcome: Outcome | None = Outcome.PRANK,
    duration_s: float | None = 30.0,
    *,
    has_location: bool = True,
    now: datetime = NOW,
) -> PastCall:
    return PastCall(now - ago, outcome, duration_s, has_location)


def screen(*calls: PastCall, unblocked_at: datetime | None = None, now: datetime = NOW):
    return screen_caller(
        CallerHistory("+6281200000001", calls, unblocked_at), now=now, policy=POLICY
    )


def spread(count: int, *, newest: timedelta, step: timedelta = H, outcome=Outcome.PRANK):
    """``count`` calls, the newest ``newest`` ago, each ``step`` older than the next."""
    return [call(newest + i * step, outcome) for i in range(count)]


# --- the block --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calls", "blocked"),
    [
        (spread(5, newest=H), False),
        (spread(6, newest=H), True),
        (spread(5, newest=H, outcome=Outcome.GHOST), False),
        (spread(6, newest=H, outcome=Outcome.GHOST), True),
        (spread(3, newest=H) + spread(3, newest=4 * H, outcome=Outcome.GHOST), True),
        (spread(9, newest=H, outcome=Outcome.INFO), False),
        (spread(9, newest=H, outcome=Outcome.MISDIAL), False),
        (spread(9, newest=H, outcome=None), False),
    ],
    ids=[
        "5-pranks",
        "6-pranks",
        "5-ghosts",
        "6-ghosts",
        "3+3-mixed",
        "9-info",
        "9-misdial",
        "9-open",
    ],
)
def test_sixth_prank_or_ghost_within_a_day_blocks_the_number(calls, blocked):
    """More than 5 prank/ghost outcomes within 24 h block; 5 do not; other outcomes never do."""
    assert screen(*calls).blocked is blocked


def test_block_runs_from_the_sixth_prank_for_24_hours():
    """blocked_until is the 6th prank's time + block_for, and the block is reported in words."""
    calls = spread(6, newest=2 * H)
    result = screen(*calls)
    assert result.blocked_until == NOW - 2 * H + POLICY.block_for
    assert "number blocked until 2026-03-02 08:00 WIB" in " ".join(result.reasons)


@pytest.mark.parametrize(
    ("first_to_sixth", "blocked"),
    [(23 * H + 59 * M, True), (24 * H, False), (24 * H + M, False)],
    ids=["23h59m", "24h00m", "24h01m"],
)
def test_six_pranks_block_only_when_the_first_is_less_than_24_hours_before_the_sixth(
    first_to_sixth, blocked
):
    """The day window is half-open: a prank exactly 24 h before the 6th no longer counts."""
    sixth = NOW - 10 * M
    calls = [PastCall(sixth - first_to_sixth, Outcome.PRANK, 5.0, True)] + [
        PastCall(sixth - i * M, Outcome.PRANK, 5.0, True) for i in range(5)
    ]
    assert screen(*calls).blocked is blocked


@pytest.mark.parametrize(
    ("sixth_ago", "blocked"),
    [(23 * H + 59 * M, True), (24 * H, False)],
    ids=["23h59m-ago", "24h00m-ago"],
)
def test_block_ends_exactly_24_hours_after_the_sixth_prank(sixth_ago, blocked):
    """blocked is always now < blocked_until; an expired block reports no blocked_until."""
    calls = [call(sixth_ago + i * M) for i in range(6)]
    result = screen(*calls)
    assert result.blocked is blocked
    assert (result.blocked_until is not None) is blocked


def test_each_prank_while_over_the_limit_extends_the_block():
    """A 7th prank 3 h after the 6th restarts the 24 h."""
    calls = [call(10 * H + i * M) for i in range(6)] + [call(7 * H)]
    assert screen(*calls).blocked_until == NOW - 7 * H + POLICY.block_for


@pytest.mark.parametrize(
    ("unblocked_ago", "blocked"),
    [(None, True), (30 * M, False), (3 * H, False), (7 * H, True)],
    ids=["never", "after-all-six", "after-three", "before-all-six"],
)
def test_supervisor_unblock_stops_earlier_pranks_counting_toward_a_block(unblocked_ago, blocked):
    """Pranks at 1..6 h ago; an unblock discounts the ones received before it."""
    unblocked_at = None if unblocked_ago is None else NOW - unblocked_ago
    result = screen(*spread(6, newest=H), unblocked_at=unblocked_at)
    assert result.blocked is blocked


def test_unblocked_caller_is_blocked_again_by_six_new_pranks():
    """Counting restarts at the unblock: 6 pranks after it block once more."""
    result = screen(*spread(6, newest=M, step=M), *spread(6, newest=H), unblocked_at=NOW - 30 * M)
    assert result.blocked
    assert any("unblocked by a supervisor" in r for r in result.reasons)


def test_unblock_lifts_the_block_but_not_the_score():
    """The record stays visible to the call-taker after an unblock."""
    calls = spread(6, newest=H)
    assert screen(*calls, unblocked_at=NOW - M).prank_score == screen(*calls).prank_score


# --- the permanent-block request --------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "flagged"),
    [(10, False), (11, True)],
)
def test_eleventh_prank_within_30_days_requests_a_permanent_block(count, flagged):
    """MORE than 10 prank/ghost outcomes in 30 days flag the number; 10 do not."""
    calls = spread(count, newest=2 * 24 * H, step=2 * 24 * H)  # one every other day
    result = screen(*calls)
    assert result.permanent_block_requested is flagged
    assert any("permanent block requested" in r for r in result.reasons) is flagged
    assert not result.blocked  # never 6 in a day


@pytest.mark.parametrize(
    ("oldest_ago", "flagged"),
    [(30 * 24 * H - M, True), (30 * 24 * H, False)],
    ids=["29d23h59m", "30d00h00m"],
)
def test_permanent_request_counts_pranks_less_than_30_days_old(oldest_ago, flagged):
    """10 recent pranks plus one at the 30-day edge: counted only while younger than 30 days."""
    calls = [call(oldest_ago), *spread(10, newest=3 * 24 * H, step=24 * H)]
    assert screen(*calls).permanent_block_requested is flagged


def test_unblock_withdraws_the_permanent_request():
    """A supervisor's unblock is the decision on the request: older pranks stop counting."""
    calls = spread(11, newest=2 * 24 * H, step=2 * 24 * H)
    assert not screen(*calls, unblocked_at=NOW - 24 * H).permanent_block_requested


# --- the score and its reasons ----------------------------------------------------------------

NIGHT = NOW + 14 * H  # 00:00 WIB
HEAVY = [
    *[call(i * 2 * M, duration_s=3.0, has_location=False, now=NIGHT) for i in range(1, 4)],
    *[call(i * H, Outcome.GHOST, 2.0, has_location=False, now=NIGHT) for i in range(1, 5)],
    *[call(i * 24 * H, now=NIGHT) for i in range(3, 9)],
]


@pytest.mark.parametrize(
    ("calls", "now", "low", "high"),
    [
        ([], NOW, 0.0, 0.1),
        ([], NIGHT, 0.0, 0.2),  # night alone stays low
        ([call(50 * 24 * H)], NOW, 0.0, 0.1),  # a prank long ago is forgotten
        ([call(3 * 24 * H, Outcome.INCIDENT, 120.0)], NOW, 0.0, 0.02),
        ([call(3 * M, Outcome.MISDIAL, 4.0)], NOW, 0.0, 0.2),  # one slip of the finger
        (spread(2, newest=H), NOW, 0.2, 0.5),
        (spread(4, newest=H), NOW, 0.6, 0.9),
        (spread(11, newest=2 * 24 * H, step=24 * H), NOW, 0.6, 0.8),  # a habit, not today
        (HEAVY, NIGHT, 0.95, 1.0),
    ],
    ids=[
        "fresh",
        "fresh-at-night",
        "old-prank",
        "past-incident",
        "one-misdial",
        "2-pranks-today",
        "4-pranks-today",
        "11-this-month",
        "heavy",
    ],
)
def test_prank_score_follows_the_record(calls, now, low, high):
    """Fresh and genuine callers score low; a burst of pranks scores high."""
    assert low <= screen(*calls, now=now).prank_score <= high


def test_fresh_number_scores_near_zero_with_no_reasons():
    """A first-time daytime caller carries no signal at all."""
    result = screen()
    assert result.prank_score < 0.2
    assert result.reasons == ()
    assert (result.blocked, result.blocked_until, result.permanent_block_requested) == (
        False,
        None,
        False,
    )


def test_heavy_pranker_scores_high_with_a_reason_for_each_signal():
    """Each signal is a short sentence with its numbers."""
    result = screen(*HEAVY, now=NIGHT)
    assert result.prank_score > 0.8
    assert result.blocked
    assert result.permanent_block_requested
    assert result.reasons == (
        "7 prank/ghost calls in the last 24 h",
        "13 prank/ghost calls in the last 30 days",
        "4 calls within 10 min, counting this one",
        "7 earlier calls in the last 30 days lasted under 10 s",
        "calling at night (00:00 WIB)",
        "7 of 13 earlier calls in the last 30 days came without a handset location",
        "number blocked until 2026-03-02 23:58 WIB: more than 5 prank/ghost calls within 24 h",
        "permanent block requested: 13 prank/ghost calls within 30 days",
    )


@pytest.mark.parametrize(
    ("genuine", "lower_by_at_least"),
    [(Outcome.INCIDENT, 0.2), (Outcome.DUPLICATE, 0.2)],
)
def test_genuine_past_reports_lower_the_score(genuine, lower_by_at_least):
    """An earlier real report counts in the caller's favour, and says so."""
    pranks = spread(3, newest=H)
    with_report = screen(*pranks, call(5 * 24 * H, genuine, 90.0))
    assert screen(*pranks).prank_score - with_report.prank_score >= lower_by_at_least
    assert "1 earlier call reported a real emergency" in with_report.reasons


@pytest.mark.parametrize(
    ("earlier", "rapid"),
    [([2 * M, 5 * M], True), ([2 * M], False), ([2 * M, 10 * M], False)],
    ids=["3-in-10min", "2-in-10min", "third-at-10min"],
)
def test_three_calls_within_ten_minutes_count_as_rapid_redialling(earlier, rapid):
    """Rapid redialling counts this call with the earlier ones, window half-open."""
    result = screen(*(call(ago, Outcome.ABANDONED, None) for ago in earlier))
    assert any("within 10 min" in r for r in result.reasons) is rapid


def test_naive_now_is_refused():
    """A naive time would silently shift WIB buckets and windows."""
    with pytest.raises(ValueError, match="timezone-aware"):
        screen(now=NOW.replace(tzinfo=None))


# --- distances and the index ------------------------------------------------------------------


def at(north_m: float, east_m: float) -> tuple[float, float]:
    """A point ``north_m`` and ``east_m`` metres from the centre of the cases."""
    return LAT + north_m / M_LAT, LON + east_m / M_LON


def incident(
    id: int,
    north_m: float = 0.0,
    east_m: float = 0.0,
    *,
    category: str = "kebakaran",
    age: timedelta = 5 * M,
    phones: frozenset[str] = frozenset(),
) -> OpenIncident:
    lat, lon = at(north_m, east_m)
    return OpenIncident(id, category, lat, lon, NOW - age, phones)


@pytest.mark.parametrize(
    ("north_m", "east_m"),
    [(50, 0), (0, 50), (300, 400), (-2000, 1500), (10_000, -10_000), (0, 20_000)],
)
def test_fast_distance_is_within_half_a_percent_of_the_geodesic(north_m, east_m):
    """The equirectangular distance with WGS84 local radii vs geopy's geodesic."""
    lat, lon = at(north_m, east_m)
    exact = geodesic((LAT, LON), (lat, lon)).meters
    assert distance_m(LAT, LON, lat, lon) == pytest.approx(exact, rel=0.005)


def test_index_adds_replaces_and_discards_incidents():
    """add() of a known id replaces it everywhere: grid, phone map and lookup."""
    index = IncidentIndex([incident(1, phones=frozenset({"+62811"})), incident(2, 100)])
    assert len(index) == 2
    index.add(incident(1, 5000, phones=frozenset({"+62822"})))  # moved and relinked
    assert len(index) == 2
    assert [i.id for i, _ in index.near(LAT, LON, 200)] == [2]
    assert [i.id for i in index.with_phone("+62811")] == []
    assert [i.id for i in index.with_phone("+62822")] == [1]
    index.discard(2)
    index.discard(2)  # closing twice is harmless
    index.discard(99)
    assert index.get(2) is None
    assert index.get(1) == incident(1, 5000, phones=frozenset({"+62822"}))
    assert list(index.near(LAT, LON, 200)) == []
    index.discard(1)
    assert len(index) == 0
    assert list(index.with_phone("+62822")) == []


@pytest.mark.parametrize("radius_m", [10, 150, 499, 501, 2_000, 60_000])
def test_near_finds_exactly_the_incidents_within_the_radius(radius_m):
    """Grid search agrees with a plain scan, from small radii to one wider than the city."""
    offsets = [(n, e) for n in range(-3000, 3001, 370) for e in range(-3000, 3001, 410)]
    index = IncidentIndex(incident(i, n, e) for i, (n, e) in enumerate(offsets))
    lat, lon = at(55, -30)
    found = {i.id: d for i, d in index.near(lat, lon, radius_m)}
    expected = {
        i.id
        for i in (incident(j, n, e) for j, (n, e) in enumerate(offsets))
        if distance_m(lat, lon, i.lat, i.lon) <= radius_m
    }
    assert set(found) == expected
    for incident_id, dist in found.items():
        hit = index.get(incident_id)
        assert hit is not None
        # near() scales at the query's latitude, distance_m() at the midpoint's: same to 1e-4.
        assert dist == pytest.approx(distance_m(lat, lon, hit.lat, hit.lon), rel=1e-4)


# --- duplicates -------------------------------------------------------------------------------


def duplicates(
    *incidents: OpenIncident,
    category: str = "kebakaran",
    accuracy_m: float | None = None,
    phone: str | None = None,
    limit: int = 5,
):
    return find_duplicates(
        IncidentIndex(incidents),
        lat=LAT,
        lon=LON,
        accuracy_m=accuracy_m,
        category=category,
        phone=phone,
        now=NOW,
        windows=WINDOWS,
        compatible=COMPATIBLE,
        limit=limit,
    )


CALLER = "+6281299990000"


@pytest.mark.parametrize(
    ("case", "kwargs", "offered"),
    [
        # kebakaran: 1000 m, 2 h
        (incident(1, 50), {}, True),
        (incident(1, 0, 990), {}, True),
        (incident(1, 3000), {}, False),
        (incident(1, age=119 * M), {}, True),
        (incident(1, age=120 * M), {}, False),
        (incident(1, age=-M), {}, True),  # clock skew: stamped a minute ahead
        # medis: 200 m; 400 m is offered only when the fix is ±200 m or worse
        (incident(1, 400, category="medis"), {"category": "medis"}, False),
        (incident(1, 400, category="medis"), {"category": "medis", "accuracy_m": 100}, False),
        (incident(1, 400, category="medis"), {"category": "medis", "accuracy_m": 300}, True),
        (incident(1, 0, 5000, category="medis"), {"category": "medis", "accuracy_m": 9e9}, False),
        # categories
        (incident(1, 50, category="listrik"), {}, True),
        (incident(1, 50, category="hewan"), {}, False),
        (incident(1, 50, category="kebakaran"), {"category": "lainnya"}, True),
        (incident(1, 50, category="lainnya"), {"category": "kecelakaan"}, True),
        (incident(1, 50, category="hewan"), {"phone": CALLER}, False),
        # the same caller, at any distance and category, within the longer window
        (incident(1, 8000, phones=frozenset({CALLER})), {"phone": CALLER}, True),
        (incident(1, 50, category="hewan", phones=frozenset({CALLER})), {"phone": CALLER}, True),
        (
            incident(1, 8000, category="banjir", age=5 * H, phones=frozenset({CALLER})),
            {"phone": CALLER, "category": "medis"},
            True,
        ),
        (incident(1, 8000, age=3 * H, phones=frozenset({CALLER})), {"phone": CALLER}, False),
        (incident(1, 8000, phones=frozenset({CALLER})), {"phone": "+6281200000002"}, False),
        (incident(1, 8000, phones=frozenset({CALLER})), {}, False),
    ],
    ids=[
        "50m",
        "990m-east",
        "3km",
        "119min-old",
        "120min-old",
        "from-the-future",
        "medis-400m",
        "medis-400m-accuracy-100",
        "medis-400m-accuracy-300",
        "accuracy-widening-capped",
        "compatible-listrik",
        "incompatible-hewan",
        "intake-lainnya-matches-all",
        "incident-lainnya-matches-all",
        "other-callers-incompatible",
        "same-caller-8km",
        "same-caller-incompatible",
        "same-caller-incident-window",
        "same-caller-too-old",
        "other-phone",
        "no-phone",
    ],
)
def test_duplicate_offered_by_distance_age_category_and_caller(case, kwargs, offered):
    """Within radius (+ accuracy) and window, compatible; or the same caller's open incident."""
    assert [c.incident_id for c in duplicates(case, **kwargs)] == ([1] if offered else [])


def test_candidate_reasons_read_as_a_summary():
    """Distance, age, category match and caller, each in a few words."""
    [far, near] = duplicates(
        incident(1, 120, age=4 * M + 10 * timedelta(seconds=1), category="listrik"),
        incident(2, 0, 2400, age=90 * M, phones=frozenset({CALLER})),
        phone=CALLER,
    )
    assert near.reasons == ("120 m away", "opened 4 min ago", "related category (listrik)")
    assert (near.incident_id, near.distance_m, near.age_s) == (1, 120.0, 250.0)
    assert far.reasons == ("2.4 km away", "opened 1 h 30 min ago", "same category", "same caller")
    [medis] = duplicates(incident(3, 350, category="medis"), category="medis", accuracy_m=300)
    assert medis.reasons[:2] == ("350 m away", "within the ±300 m location accuracy")


@pytest.mark.parametrize(
    ("better", "worse"),
    [
        (incident(1, 100), incident(2, 600)),  # nearer
        (incident(1, 100, age=M), incident(2, 100, age=60 * M)),  # fresher
        (incident(1, 100), incident(2, 100, category="listrik")),  # same category
        (incident(1, 100, phones=frozenset({CALLER})), incident(2, 100)),  # same caller
    ],
    ids=["nearer", "fresher", "same-category", "same-caller"],
)
def test_better_candidate_scores_higher(better, worse):
    """Each signal on its own lifts a candidate above an otherwise equal one."""
    ranked = duplicates(worse, better, phone=CALLER)
    assert [c.incident_id for c in ranked] == [better.id, worse.id]
    assert 1.0 >= ranked[0].score > ranked[1].score >= 0.0


def test_same_caller_candidates_score_at_least_the_floor():
    """A call-back about one's own incident is never ranked as a weak match."""
    [far] = duplicates(incident(1, 9000, age=110 * M, phones=frozenset({CALLER})), phone=CALLER)
    assert 0.7 <= far.score < 0.8


def test_ties_break_by_distance_then_id():
    """Equal scores order by distance, then id, whatever the insertion order."""
    twins = [
        incident(7, 200),
        incident(3, -200),
        incident(5, 0, 200),
        incident(4, 100, age=0 * M),
        incident(9, 100, age=0 * M),
    ]
    ranked = duplicates(*twins)
    assert [c.incident_id for c in ranked] == [4, 9, 3, 5, 7]
    assert [c.incident_id for c in duplicates(*reversed(twins))] == [4, 9, 3, 5, 7]


def test_limit_keeps_the_best_candidates():
    """Only the top ``limit`` are returned; a limit of 0 returns none."""
    many = [incident(i, 50 * i) for i in range(1, 12)]
    assert [c.incident_id for c in duplicates(*many, limit=3)] == [1, 2, 3]
    assert duplicates(*many, limit=0) == []


def test_unknown_intake_category_uses_the_default_window():
    """A category missing from the configuration still searches 300 m and 1 h."""
    offered = duplicates(
        incident(1, 250, category="x"), incident(2, 350, category="x"), category="x"
    )
    assert [c.incident_id for c in offered] == [1]


@pytest.mark.parametrize(("radius_m", "window_s"), [(0, 60), (100, 0), (-1, 60)])
def test_duplicate_window_must_be_positive(radius_m, window_s):
    """A zero radius or window is a configuration error, caught when it is built."""
    with pytest.raises(ValueError, match="positive"):
        DuplicateWindow(radius_m, window_s)


# --- KPI counts -------------------------------------------------------------------------------


def test_count_outcomes_buckets_by_wib_hour():
    """16:59 UTC is 23:59 WIB; 17:00 UTC is the next WIB day, hour 00."""
    calls = [
        (datetime(2026, 3, 1, 16, 0, tzinfo=UTC), Outcome.PRANK),
        (datetime(2026, 3, 1, 16, 59, 59, tzinfo=UTC), Outcome.GHOST),
        (datetime(2026, 3, 1, 17, 0, tzinfo=UTC), Outcome.INCIDENT),
        (datetime(2026, 3, 1, 17, 30, tzinfo=UTC), None),
    ]
    counts = count_outcomes(calls, by="hour")
    assert list(counts) == ["2026-03-01T23:00:00+07:00", "2026-03-02T00:00:00+07:00"]
    late, midnight = counts.values()
    assert (late["prank"], late["ghost"], late["incident"]) == (1, 1, 0)
    assert (midnight["incident"], midnight["pending"], midnight["prank"]) == (1, 1, 0)
    assert set(late) == {*Outcome, "pending"}


@pytest.mark.parametrize(
    ("utc", "day"),
    [
        (datetime(2026, 3, 1, 16, 59, tzinfo=UTC), "2026-03-01"),
        (datetime(2026, 3, 1, 17, 0, tzinfo=UTC), "2026-03-02"),
        (datetime(2026, 2, 28, 17, 0, tzinfo=UTC), "2026-03-01"),
    ],
)
def test_count_outcomes_buckets_by_wib_day(utc, day):
    """Days start at 00:00 WIB (17:00 UTC the day before)."""
    assert count_outcomes([(utc, Outcome.INFO)], by="day") == {
        day: {**dict.fromkeys([*Outcome, "pending"], 0), "info": 1}
    }


def test_count_outcomes_orders_days_and_adds_them_up():
    """Keys come out in time order whatever the input order."""
    calls = [(NOW + i * 7 * H, Outcome.PRANK) for i in range(6, -1, -1)]
    counts = count_outcomes(calls, by="day")
    assert list(counts) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert [b["prank"] for b in counts.values()] == [2, 4, 1]  # 10:00, 17:00 | 00:00..21:00 | 04:00


def test_count_outcomes_refuses_naive_times():
    """A naive timestamp cannot be placed in a WIB bucket."""
    with pytest.raises(ValueError, match="timezone-aware"):
        count_outcomes([(datetime(2026, 3, 1, 10, 0), Outcome.PRANK)], by="hour")  # noqa: DTZ001
