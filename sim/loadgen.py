"""Open-loop intake load from a worker process: POST /api/v1/incidents on a fixed schedule.

Runs in its own process (one event loop each) so that one Python client is not the bottleneck.
It only sends and records times; it must not judge the results (``bench`` does).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
import orjson

# (scheduled perf_counter, answered perf_counter, HTTP status or 0, incident id or 0)
Sample = tuple[float, float, int, int]


@dataclass(frozen=True, slots=True)
class Job:
    base: str
    token: str
    rate: float  # requests per second from this worker
    duration_s: float
    start: float  # time.perf_counter() of the first send; CLOCK_MONOTONIC is system-wide
    tag: str  # makes client_refs unique per step and worker
    points: tuple[tuple[float, float], ...]  # (lat, lon) inside the city
    category: str = "kebakaran"


def run_job(job: Job) -> list[Sample]:
    return asyncio.run(_run(job))


async def _run(job: Job) -> list[Sample]:
    headers = {"Authorization": f"Bearer {job.token}", "Content-Type": "application/json"}
    samples: list[Sample] = []
    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send(i: int, scheduled: float) -> None:
            lat, lon = job.points[i % len(job.points)]
            body = orjson.dumps(
                {
                    "phone": f"0812{i % 10_000_000:08d}",
                    "category": job.category,
                    "location": {"lat": lat, "lon": lon},
                    "client_ref": f"{job.tag}-{i}",
                }
            )
            status, incident_id = 0, 0
            try:
                async with session.post(
                    f"{job.base}/api/v1/incidents", data=body, headers=headers
                ) as resp:
                    status = resp.status
                    if status in (200, 201):
                        incident_id = int(orjson.loads(await resp.read())["id"])
            except (aiohttp.ClientError, TimeoutError, OSError):
                pass
            samples.append((scheduled, time.perf_counter(), status, incident_id))

        tasks = []
        for i in range(round(job.rate * job.duration_s)):
            scheduled = job.start + i / job.rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i, scheduled)))
        await asyncio.gather(*tasks)
    return samples
