"""Write a run's summary as JSON and as one self-contained HTML page with inline SVG charts.

It formats what ``sim.run.summarize`` measured; it must not compute new measurements.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import orjson

JSONDict = dict[str, Any]


def write_json(summary: JSONDict, path: Path) -> None:
    path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")


def bars_svg(title: str, labels: list[str], values: list[float], unit: str = "") -> str:
    """A plain vertical bar chart; no scripts, no external assets."""
    width, height, pad, top = 640, 220, 40, 28
    n = max(1, len(values))
    peak = max(values, default=0) or 1
    slot = (width - 2 * pad) / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<text x="{pad}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = (height - top) * value / peak
        x = pad + i * slot
        y = top + (height - top) - h
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{max(1.0, slot - 4):.1f}" '
            f'height="{h:.1f}" fill="#c0392b"><title>{html.escape(label)}: {value:g}{unit}'
            "</title></rect>"
        )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{y - 3:.1f}" font-size="10" '
            f'text-anchor="middle">{value:g}</text>'
        )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{height + 14}" font-size="10" '
            f'text-anchor="middle">{html.escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _fmt(v: object) -> str:
    return "&ndash;" if v is None else html.escape(str(v))


def _kpi_rows(kpi: JSONDict) -> str:
    rows = []
    for name, k in kpi.items():
        comp = k.get("compliance_pct")
        if name == "answer":
            within_15, within_20 = _fmt(k.get("within_15_s_pct")), _fmt(k.get("within_20_s_pct"))
            comp = f"{within_15}% ≤15 s, {within_20}% ≤20 s"
        elif comp is not None:
            comp = f"{comp}% ≤ {k['target_s']:g} s"
        rows.append(
            f"<tr><td>{name}</td><td>{k['n']}</td><td>{_fmt(k['p50_s'])}</td>"
            f"<td>{_fmt(k['p90_s'])}</td><td>{_fmt(comp)}</td><td>{_fmt(k['targets'])}</td></tr>"
        )
    return "".join(rows)


def _dl(d: JSONDict) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in d.items())


def write_html(s: JSONDict, path: Path) -> None:
    lat = s["intake_to_push_ms"]
    hist = lat["histogram"]
    hist_labels = [f"≤{h['le_ms']}" if h["le_ms"] is not None else ">1000" for h in hist]
    outcome = s["calls"]["by_action"]
    truth = s["calls"]["by_truth"]
    hours = s["arrivals_by_hour"]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in s["notes"]) or "<li>none</li>"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Dispatch 112 simulation &ndash; {html.escape(s["scenario"])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}</style></head><body>
<h1>Dispatch 112 simulation: {html.escape(s["scenario"])} (seed {s["seed"]})</h1>
<p>Start {html.escape(s["start"])}, {s["simulated_s"]} s simulated in {s["wall_s"]} s wall
(speed &times;{s["speed"]:g}); server {html.escape(str(s.get("url")))}; call-takers
{s.get("calltakers")}. Service KPIs are in simulated seconds; intake→push latency is wall
time from the POST send to the primary agency's receipt of <code>incident.opened</code>.
Every wall-clock delay (HTTP round trips, pushes) counts &times;{s["speed"]:g} in simulated time, so
very high speeds inflate the service KPIs.</p>
<h2>Service KPIs (DESIGN §6)</h2>
<table><tr><th>KPI</th><th>n</th><th>P50 s</th><th>P90 s</th><th>compliance</th>
<th>target</th></tr>{_kpi_rows(s["kpi"])}</table>
<h2>Calls</h2>
{bars_svg("Calls by truth", list(truth), [float(v) for v in truth.values()])}
{bars_svg("Calls by what the call-taker did", list(outcome), [float(v) for v in outcome.values()])}
{
        bars_svg(
            "Arrivals by hour (WIB)",
            [h["hour"][:2] for h in hours],
            [float(h["calls"]) for h in hours],
        )
    }
<h2>Duplicates and pranks</h2>
<table>{_dl(s["incidents"])}{_dl(s["duplicates"])}{_dl(s["pranks"])}</table>
<h2>Intake → push latency (wall)</h2>
<p>n={lat["n"]}, p50 {_fmt(lat["p50"])} ms, p90 {_fmt(lat["p90"])} ms,
p99 {_fmt(lat["p99"])} ms, max {_fmt(lat["max"])} ms</p>
{bars_svg("Intake → push latency (ms)", hist_labels, [float(h["count"]) for h in hist])}
<h2>Features and notes</h2>
<table>{_dl(s["features"])}</table><ul>{notes}</ul>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
