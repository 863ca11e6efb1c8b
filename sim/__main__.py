"""``python -m sim run|bench|chaos``: the simulator, the intake benchmark and the chaos run.

Parses the command line and starts a server when no --url is given; the work is in the modules.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import orjson

from sim import scenario as scenarios
from sim.report import write_html, write_json
from sim.server import ServerProcess


def _run(args: argparse.Namespace) -> int:
    from sim.run import run, summarize

    zones = scenarios.load_zones()
    sc = scenarios.build(args.scenario, zones, args.seed, hours=args.hours)
    print(
        f"scenario {sc.name}: {len(sc.calls)} calls over {sc.duration_s / 3600:.2f} h simulated,"
        f" speed x{args.speed:g} (~{sc.duration_s / args.speed:.0f} s wall)",
        file=sys.stderr,
    )
    server: ServerProcess | None = None
    url = args.url
    try:
        if url is None:
            server = ServerProcess()
            took = server.start()
            url = server.base
            print(f"server started at {url} in {took:.1f} s", file=sys.stderr)
        world, wall = asyncio.run(
            run(url, sc, speed=args.speed, calltakers=args.calltakers, progress=not args.quiet)
        )
    finally:
        if server is not None:
            server.close()
    meta = {"url": url, "own_server": server is not None, "calltakers": args.calltakers}
    summary = summarize(sc, world, wall, meta)
    if args.json:
        write_json(summary, args.json)
    if args.html:
        write_html(summary, args.html)
    _print_summary(summary)
    return 0


def _print_summary(s: dict[str, object]) -> None:
    print(
        orjson.dumps(
            {k: s[k] for k in ("calls", "incidents", "duplicates", "pranks", "kpi")},
            option=orjson.OPT_INDENT_2,
        ).decode()
    )
    lat = s["intake_to_push_ms"]
    assert isinstance(lat, dict)
    print(f"intake->push ms: n={lat['n']} p50={lat['p50']} p90={lat['p90']} p99={lat['p99']}")


def _bench(args: argparse.Namespace) -> int:
    from sim.bench import bench, print_table

    result = bench(quick=args.quick, workers=args.workers)
    args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print_table(result)
    return 0


def _chaos(args: argparse.Namespace) -> int:
    from sim.chaos import chaos, print_summary

    result = asyncio.run(chaos(quick=args.quick))
    args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print_summary(result)
    return 0 if result["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="play a seeded Serang scenario against a real server")
    p_run.add_argument("--scenario", choices=("day", "flood"), default="day")
    p_run.add_argument("--speed", type=float, default=144.0, help="simulated s per wall s")
    p_run.add_argument("--seed", type=int, default=112)
    p_run.add_argument("--hours", type=float, default=None, help="day: simulate only N hours")
    p_run.add_argument("--calltakers", type=int, default=4, help="operators on shift")
    p_run.add_argument("--url", default=None, help="a running server (default: start one)")
    p_run.add_argument("--json", type=Path, default=None)
    p_run.add_argument("--html", type=Path, default=None)
    p_run.add_argument("--quiet", action="store_true", help="no progress line")
    p_bench = sub.add_parser("bench", help="intake->push latency and throughput vs pgbench")
    p_bench.add_argument("--json", type=Path, required=True)
    p_bench.add_argument("--quick", action="store_true", help="a few seconds (for tests)")
    p_bench.add_argument(
        "--workers", type=int, default=min(2, os.cpu_count() or 1), help="load processes"
    )
    p_chaos = sub.add_parser("chaos", help="kill the server and the database under load")
    p_chaos.add_argument("--json", type=Path, required=True)
    p_chaos.add_argument("--quick", action="store_true", help="a short run (for tests)")
    args = parser.parse_args(argv)
    handler = {"run": _run, "bench": _bench, "chaos": _chaos}[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
