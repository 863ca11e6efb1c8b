"""Screening of one intake: a caller's prank/abuse score and block state, and duplicate candidates.

Pure: no I/O, no asyncio, no clock (``now`` is passed in). It only informs the call-taker; it never
holds, drops or hides a call.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import Literal

# Western Indonesia Time. A fixed offset, not zoneinfo: Indonesia has had no DST since 1964, and
# this keeps the pure core free of the tz database.
WIB = timezone(timedelta(hours=7), "WIB")


class Outcome(StrEnum):
    """What a call turned out to be (DESIGN §2)."""

    INCIDENT = "incident"
    DUPLICATE = "duplicate"
    PRANK = "prank"
    GHOST = "ghost"
    INFO = "info"
    MISDIAL = "misdial"
    ABANDONED = "abandoned"


# The outcomes that count toward a block (Permenkominfo 10/2016 as applied by city centres).
ABUSE = frozenset({Outcome.PRANK, Outcome.GHOST})
# Outcomes that show the caller has used 112 for a real emergency before.
GENUINE = frozenset({Outcome.INCIDENT, Outcome.DUPLICATE})


@dataclass(frozen=True, slots=True)
class PastCall:
    """One earlier call from the same number."""

    received_at: datetime
    outcome: Outcome | None  # None: not classified yet (still ringing, or left open)
    duration_s: float | None  # None: never answered
    has_location: bool  # the handset sent an AML fix


@dataclass(frozen=True, slots=True)
class CallerHistory:
    """A number's PREVIOUS calls (not the one being screened)."""

    phone: str
    calls: tuple[PastCall, ...]
    # A supervisor's unblock: calls received before it no longer count toward blocking.
    unblocked_at: datetime | None


@dataclass(frozen=True, slots=True)
class BlockPolicy:
    """Blocking thresholds and prank-score weights.

    The weights are log-odds added to ``bias``; the score is the logistic of the sum, so each
    weight reads as "this signal multiplies the odds of a prank by e**weight".
    """

    # Permenkominfo 10/2016 as applied by city centres: MORE than 5 prank/ghost calls within 24 h
    # blocks the number for 24 h; MORE than 10 within 30 days asks for a permanent block.
    day_limit: int = 5
    day_window: timedelta = timedelta(hours=24)
    block_for: timedelta = timedelta(hours=24)
    month_limit: int = 10
    month_window: timedelta = timedelta(days=30)

    # A number with no record starts at ~5% (logistic(-3)). Over 98% of Serang's calls are
    # prank/ghost/info (ntpd112_call_stats.csv), but that is a share of calls, dominated by
    # repeat numbers; a first-time caller must not look suspect, so the prior is set low on
    # purpose and the caller's own record does the work.
    bias: float = -3.0
    # Each prank/ghost call in the last 24 h: the strongest signal, as pranks come in bursts.
    # Capped at day_limit + 1 (+4.8): beyond a block, more of the same adds nothing.
    per_prank_today: float = 0.8
    # Each prank/ghost call in the last 30 days (today's included): a habit, weaker than a
    # burst; 11 of them alone (the permanent-block request) give ~0.7.
    per_prank_month: float = 0.35
    # >= 3 calls within 10 min, this one included: redialling is how children play with a
    # phone, but also how a caller whose line dropped gets back, so it alone gives only ~0.12.
    rapid_calls: int = 3
    rapid_window: timedelta = timedelta(minutes=10)
    per_rapid_burst: float = 1.0
    # Earlier calls shorter than 10 s that did not report an emergency: hang-ups and silent
    # calls; nobody states an emergency in under 10 s. Capped at 5 calls (+1.5).
    short_call_s: float = 10.0
    per_short_call: float = 0.3
    short_call_cap: int = 5
    # 22:00-05:00 WIB: weak, since fires and crashes happen at night too; it only tips a
    # balance already set by the record.
    night_start_hour: int = 22
    night_end_hour: int = 5
    night: float = 0.4
    # Times the share of earlier calls without a handset location: weak, since many feature
    # phones send no AML fix at all.
    no_location: float = 0.5
    # Each earlier genuine report lowers the score: the caller knows what 112 is for. Capped at
    # 2 (-3.0) so that one real report cannot hide a run of pranks.
    per_genuine_call: float = -1.5
    genuine_cap: int = 2


@dataclass(frozen=True, slots=True)
class CallerScreening:
    """What the call-taker sees about the number that is ringing."""

    prank_score: float  # 0..1, rounded to 3 decimals
    blocked: bool
    blocked_until: datetime | None  # set only while blocked
    permanent_block_requested: bool  # for a supervisor to decide; nothing is blocked by it
    reasons: tuple[str, ...]


def screen_caller(history: CallerHistory, *, now: datetime, policy: BlockPolicy) -> CallerScreening:
    """Score a caller's prank/abuse record and tell whether the number is blocked.

    Screening only informs: a blocked caller's call is still recorded and answered, and a
    call-taker may open an incident for it like any other.

    Counting windows are relative to ``now``: a call counts when ``now - received_at < window``
    (a call exactly 24 h old no longer counts; one stamped after ``now`` by clock skew does).
    A block starts at a prank/ghost call that is the (day_limit + 1)-th within the day window
    ending at that call, and lasts ``block_for`` from it; so with exactly 6 such calls,
    ``blocked_until`` is the 6th call's time + 24 h, and each further one while over the limit
    extends it. ``blocked`` is always ``now < blocked_until``. Calls before ``unblocked_at`` count
    neither toward a block nor toward the permanent-block request, but they still count in the
    score: an unblock lifts the block, not the record.
    """
    _require_aware(now, "now")
    p = policy
    month_calls = day_abuse = month_abuse = recent = short = without_location = genuine = 0
    for call in history.calls:
        if call.outcome in GENUINE:
            genuine += 1  # at any age: a real report is lasting evidence of good faith
        age = now - call.received_at
        if age >= p.month_window:
            continue  # the other signals are about current behaviour
        month_calls += 1
        month_abuse += call.outcome in ABUSE
        day_abuse += call.outcome in ABUSE and age < p.day_window
        recent += age < p.rapid_window
        without_location += not call.has_location
        if call.outcome not in GENUINE and call.duration_s is not None:
            short += call.duration_s < p.short_call_s
    logit = p.bias
    reasons: list[str] = []
    if day_abuse:
        logit += p.per_prank_today * min(day_abuse, p.day_limit + 1)
        reasons.append(f"{_n(day_abuse, 'prank/ghost call')} in the last {_span(p.day_window)}")
    if month_abuse:
        logit += p.per_prank_month * min(month_abuse, p.month_limit + 1)
        reasons.append(f"{_n(month_abuse, 'prank/ghost call')} in the last {_span(p.month_window)}")
    if recent + 1 >= p.rapid_calls:
        logit += p.per_rapid_burst
        reasons.append(f"{recent + 1} calls within {_span(p.rapid_window)}, counting this one")
    if short:
        logit += p.per_short_call * min(short, p.short_call_cap)
        reasons.append(
            f"{_n(short, 'earlier call')} in the last {_span(p.month_window)} lasted under"
            f" {p.short_call_s:g} s"
        )
    local = now.astimezone(WIB)
    if local.hour >= p.night_start_hour or local.hour < p.night_end_hour:
        logit += p.night
        reasons.append(f"calling at night ({local:%H:%M} WIB)")
    if without_location:
        logit += p.no_location * without_location / month_calls
        reasons.append(
            f"{without_location} of {_n(month_calls, 'earlier call')} in the last"
            f" {_span(p.month_window)} came without a handset location"
        )
    if genuine:
        logit += p.per_genuine_call * min(genuine, p.genuine_cap)
        reasons.append(f"{_n(genuine, 'earlier call')} reported a real emergency")

    since = history.unblocked_at
    counted = sorted(
        c.received_at
        for c in history.calls
        if c.outcome in ABUSE and (since is None or c.received_at >= since)
    )
    blocked_until = _block_end(counted, p)
    if blocked_until is not None and now >= blocked_until:
        blocked_until = None
    month_counted = sum(now - t < p.month_window for t in counted)
    permanent = month_counted > p.month_limit
    if since is not None and now - since < p.month_window:
        reasons.append(
            f"unblocked by a supervisor at {_wib(since)}; calls before that"
            " no longer count toward a block"
        )
    if blocked_until is not None:
        reasons.append(
            f"number blocked until {_wib(blocked_until)}: more than"
            f" {_n(p.day_limit, 'prank/ghost call')} within {_span(p.day_window)}"
        )
    if permanent:
        reasons.append(
            f"permanent block requested: {_n(month_counted, 'prank/ghost call')} within"
            f" {_span(p.month_window)}"
        )
    return CallerScreening(
        prank_score=round(1.0 / (1.0 + math.exp(-logit)), 3),
        blocked=blocked_until is not None,
        blocked_until=blocked_until,
        permanent_block_requested=permanent,
        reasons=tuple(reasons),
    )


def _block_end(times: list[datetime], p: BlockPolicy) -> datetime | None:
    """End of the latest block started by the sorted abuse-call times, running or not."""
    trigger = None
    first = 0
    for last, at in enumerate(times):
        while at - times[first] >= p.day_window:
            first += 1
        if last - first + 1 > p.day_limit:
            trigger = at
    return None if trigger is None else trigger + p.block_for


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """What duplicate detection needs to know of one open incident."""

    id: int
    category: str
    lat: float
    lon: float
    opened_at: datetime
    phones: frozenset[str]  # every caller linked to it


@dataclass(frozen=True, slots=True)
class DuplicateWindow:
    """How far and how long after an incident a new call may be about the same event."""

    radius_m: float
    window_s: int

    def __post_init__(self) -> None:
        if not (self.radius_m > 0 and self.window_s > 0):
            raise ValueError(f"radius_m and window_s must be positive, got {self!r}")


@dataclass(frozen=True, slots=True)
class Candidate:
    """An open incident the intake may duplicate."""

    incident_id: int
    distance_m: float
    age_s: float
    score: float  # 0..1, rounded to 3 decimals
    reasons: tuple[str, ...]


# AML places the CALLER, not the event, so radii follow how far away people who see the same
# event call from; windows follow how long such an event keeps drawing calls. The per-category
# values are data (routing_rules/categories.toml); this one serves a category missing there.
DEFAULT_WINDOW = DuplicateWindow(radius_m=300, window_s=3600)
# Up to this much of a fix's accuracy widens the search: a GPS or Wi-Fi fix is within ~100 m,
# but a cell-ID fix of several km would offer half the city.
MAX_ACCURACY_WIDENING_M = 1000.0
# Candidate score = weighted closeness, freshness and category match, each 0..1. Closeness
# weighs most: callers of one event cluster in space. Freshness: duplicate calls bunch in the
# first minutes. Category: call-takers file one event under related categories.
W_DISTANCE = 0.4
W_AGE = 0.3
W_CATEGORY = 0.3
COMPATIBLE_MATCH = 0.5  # a related category counts half of the same one
# The same number calling again about an open incident is nearly always a call-back about it
# ("the ambulance has not come"), wherever the handset is now: such candidates score >= 0.7.
SAME_CALLER_FLOOR = 0.7

# Grid cell of the index: 0.0045 deg is ~500 m of latitude, and of longitude near the equator
# (497 m at Serang's 6 deg S), so a query of a few hundred metres reads 4-9 cells.
CELL_DEG = 0.0045

# WGS84 ellipsoid.
_A = 6_378_137.0
_E2 = 6.694_379_990_14e-3


def meters_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of latitude and of longitude at ``lat`` on the WGS84 ellipsoid.

    Scaling degree offsets by these local radii (equirectangular projection) differs from the
    geodesic distance by under 0.0001% within 20 km at Serang's latitude (budget: 0.5%); a
    spherical Earth would be 0.55% off north-south here.
    """
    phi = math.radians(lat)
    w = 1.0 - _E2 * math.sin(phi) ** 2
    per_rad_lat = _A * (1.0 - _E2) / (w * math.sqrt(w))
    per_rad_lon = _A / math.sqrt(w) * math.cos(phi)
    return per_rad_lat * math.pi / 180.0, per_rad_lon * math.pi / 180.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Fast ground distance in metres between two nearby points (see ``meters_per_degree``)."""
    m_lat, m_lon = meters_per_degree((lat1 + lat2) / 2.0)
    return math.hypot((lat2 - lat1) * m_lat, (lon2 - lon1) * m_lon)


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG)


class IncidentIndex:
    """Mutable in-memory index of OPEN incidents: a uniform grid plus a phone map.

    ``add`` of a known id replaces that incident (moved, recategorised, a caller linked).
    No antimeridian handling: Indonesia is far from it.
    """

    __slots__ = ("_by_id", "_by_phone", "_cells")

    def __init__(self, incidents: Iterable[OpenIncident] = ()) -> None:
        self._by_id: dict[int, OpenIncident] = {}
        # (row, column) -> id -> (lat, lon, opened_at as POSIX seconds, incident): plain floats
        # first, so the scan of a query's cells does no attribute or datetime work.
        self._cells: dict[tuple[int, int], dict[int, tuple[float, float, float, OpenIncident]]]
        self._cells = {}
        self._by_phone: dict[str, set[int]] = {}
        for incident in incidents:
            self.add(incident)

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, incident: OpenIncident) -> None:
        """Index an incident, replacing any with the same id."""
        _require_aware(incident.opened_at, "opened_at")
        self.discard(incident.id)
        self._by_id[incident.id] = incident
        entry = (incident.lat, incident.lon, incident.opened_at.timestamp(), incident)
        self._cells.setdefault(_cell(incident.lat, incident.lon), {})[incident.id] = entry
        for phone in incident.phones:
            self._by_phone.setdefault(phone, set()).add(incident.id)

    def discard(self, incident_id: int) -> None:
        """Forget an incident (closed or merged); unknown ids are ignored."""
        incident = self._by_id.pop(incident_id, None)
        if incident is None:
            return
        key = _cell(incident.lat, incident.lon)
        cell = self._cells[key]
        del cell[incident_id]
        if not cell:
            del self._cells[key]
        for phone in incident.phones:
            ids = self._by_phone[phone]
            ids.discard(incident_id)
            if not ids:
                del self._by_phone[phone]

    def get(self, incident_id: int) -> OpenIncident | None:
        """The indexed incident with this id, if any."""
        return self._by_id.get(incident_id)

    def with_phone(self, phone: str) -> Iterator[OpenIncident]:
        """Open incidents this number has called about, without scanning the others."""
        for incident_id in self._by_phone.get(phone, ()):
            yield self._by_id[incident_id]

    def near(self, lat: float, lon: float, radius_m: float) -> Iterator[tuple[OpenIncident, float]]:
        """Yield (incident, distance_m) for each incident within ``radius_m``, in no order."""
        for incident, dist, _ in self._scan(lat, lon, radius_m, None, -math.inf):
            yield incident, dist

    def _scan(
        self,
        lat: float,
        lon: float,
        radius_m: float,
        categories: Container[str] | None,
        opened_after: float,
    ) -> Iterator[tuple[OpenIncident, float, float]]:
        """Yield (incident, distance_m, opened_at POSIX seconds) within ``radius_m``.

        Only those of ``categories`` (None: all) opened strictly after ``opened_after``; these
        filters run before the distance, which is what keeps a wide search cheap.
        """
        m_lat, m_lon = meters_per_degree(lat)
        r0, c0 = _cell(lat - radius_m / m_lat, lon - radius_m / m_lon)
        r1, c1 = _cell(lat + radius_m / m_lat, lon + radius_m / m_lon)
        if (r1 - r0 + 1) * (c1 - c0 + 1) > len(self._cells):
            # A radius wider than the occupied grid: walking the occupied cells is cheaper.
            cells = [
                cell for (r, c), cell in self._cells.items() if r0 <= r <= r1 and c0 <= c <= c1
            ]
        else:
            get = self._cells.get
            cells = [
                cell
                for r in range(r0, r1 + 1)
                for c in range(c0, c1 + 1)
                if (cell := get((r, c))) is not None
            ]
        limit = radius_m * radius_m
        for cell in cells:
            for i_lat, i_lon, opened, incident in cell.values():
                if opened <= opened_after or (
                    categories is not None and incident.category not in categories
                ):
                    continue
                dy = (i_lat - lat) * m_lat
                dx = (i_lon - lon) * m_lon
                d2 = dx * dx + dy * dy
                if d2 <= limit:
                    yield incident, math.sqrt(d2), opened


def find_duplicates(
    index: IncidentIndex,
    *,
    lat: float,
    lon: float,
    accuracy_m: float | None,
    category: str,
    phone: str | None,
    now: datetime,
    windows: Mapping[str, DuplicateWindow],
    compatible: Mapping[str, frozenset[str]],
    limit: int = 5,
) -> list[Candidate]:
    """Rank open incidents the intake may be a duplicate of, best first.

    The INTAKE's category decides the window (one radius, one grid query): an incident is offered
    when it lies within that radius widened by the fix's accuracy (up to
    ``MAX_ACCURACY_WIDENING_M``), was opened less than ``window_s`` ago, and has the same or a
    compatible category (``compatible[category]``). An incident this ``phone`` already called
    about is offered at any distance and in any category while younger than the longer of the
    two categories' windows. Sorted by score desc, then distance, then id, as rounded for display.
    """
    _require_aware(now, "now")
    if limit <= 0:
        return []
    window = windows.get(category, DEFAULT_WINDOW)
    reach = window.radius_m + min(max(accuracy_m or 0.0, 0.0), MAX_ACCURACY_WIDENING_M)
    related = compatible.get(category, frozenset())
    now_s = now.timestamp()
    ranked: list[tuple[float, float, int, OpenIncident, bool]] = []
    mine: set[int] = set()
    if phone is not None:
        for incident in index.with_phone(phone):
            own = windows.get(incident.category, DEFAULT_WINDOW)
            age = (now - incident.opened_at).total_seconds()
            if age < max(window.window_s, own.window_s):
                dist = distance_m(lat, lon, incident.lat, incident.lon)
                match = _match(incident.category, category, related)
                score = _score(dist / reach, age / window.window_s, match, same_caller=True)
                ranked.append((-round(score, 3), round(dist, 1), incident.id, incident, True))
                mine.add(incident.id)
    # The same score as _score(), unclamped and inlined: the scan already keeps dist <= reach
    # and age < window, and a wide category (bencana) can match hundreds of incidents.
    per_m = W_DISTANCE / reach
    per_s = W_AGE / window.window_s
    best = W_DISTANCE + W_AGE
    same = W_CATEGORY
    other = W_CATEGORY * COMPATIBLE_MATCH
    for incident, dist, opened in index._scan(
        lat, lon, reach, related | {category}, now_s - window.window_s
    ):
        age = now_s - opened
        if age < 0.0:
            age = 0.0  # clock skew: an incident stamped after `now` is brand new
        score = (
            best - per_m * dist - per_s * age + (same if incident.category == category else other)
        )
        ranked.append((-round(score, 3), round(dist, 1), incident.id, incident, False))
    # Ranked on the rounded score and distance the call-taker sees, so that ties look like ties.
    shown = heapq.nsmallest(limit, (r for r in ranked if r[4] or r[2] not in mine))
    return [
        _candidate(incident, -neg, dist, now, category, related, window, reach, same_caller=s)
        for neg, dist, _, incident, s in shown
    ]


def _match(incident_category: str, category: str, related: frozenset[str]) -> float:
    if incident_category == category:
        return 1.0
    return COMPATIBLE_MATCH if incident_category in related else 0.0


def _score(far: float, old: float, match: float, *, same_caller: bool) -> float:
    """Candidate score 0..1 from distance and age as fractions of the reach and the window."""
    closeness = max(0.0, 1.0 - far)
    freshness = min(1.0, max(0.0, 1.0 - old))  # clock skew: stamped after `now` is brand new
    score = W_DISTANCE * closeness + W_AGE * freshness + W_CATEGORY * match
    return SAME_CALLER_FLOOR + (1.0 - SAME_CALLER_FLOOR) * score if same_caller else score


def _candidate(
    incident: OpenIncident,
    score: float,
    dist: float,
    now: datetime,
    category: str,
    related: frozenset[str],
    window: DuplicateWindow,
    reach: float,
    *,
    same_caller: bool,
) -> Candidate:
    age = max((now - incident.opened_at).total_seconds(), 0.0)
    reasons = [f"{_metres(dist)} away"]
    if window.radius_m < dist <= reach:
        reasons.append(f"within the ±{reach - window.radius_m:.0f} m location accuracy")
    reasons.append(f"opened {_ago(age)} ago")
    if incident.category == category:
        reasons.append("same category")
    elif incident.category in related:
        reasons.append(f"related category ({incident.category})")
    else:
        reasons.append(f"other category ({incident.category})")
    if same_caller:
        reasons.append("same caller")
    return Candidate(
        incident_id=incident.id,
        distance_m=dist,
        age_s=round(age, 1),
        score=score,
        reasons=tuple(reasons),
    )


PENDING = "pending"  # the count_outcomes key for calls with no outcome yet


def count_outcomes(
    calls: Iterable[tuple[datetime, Outcome | None]],
    *,
    by: Literal["hour", "day"],
    tz: tzinfo = WIB,
) -> dict[str, dict[str, int]]:
    """Count calls by outcome per local hour or day, for KPIs.

    Keys are ISO 8601 in ``tz``: ``2026-03-01T14:00:00+07:00`` per hour, ``2026-03-01`` per day,
    in time order. Each bucket lists every outcome plus ``pending`` (no outcome yet), zeros
    included, so that buckets line up as table columns.
    """
    counts: dict[str, dict[str, int]] = {}
    for at, outcome in calls:
        _require_aware(at, "call time")
        local = at.astimezone(tz)
        if by == "hour":
            key = local.replace(minute=0, second=0, microsecond=0).isoformat()
        else:
            key = local.date().isoformat()
        bucket = counts.get(key)
        if bucket is None:
            bucket = counts[key] = dict.fromkeys([*(o.value for o in Outcome), PENDING], 0)
        bucket[PENDING if outcome is None else outcome] += 1
    return dict(sorted(counts.items()))


def _require_aware(at: datetime, what: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {at!r}")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _span(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def _wib(at: datetime) -> str:
    return f"{at.astimezone(WIB):%Y-%m-%d %H:%M} WIB"


def _metres(dist: float) -> str:
    return f"{dist:.0f} m" if dist < 1000 else f"{dist / 1000:.1f} km"


def _ago(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
