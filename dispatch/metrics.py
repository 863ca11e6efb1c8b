"""The app's own Prometheus registry: intake counts, the latency-critical path, live sockets.

Only counting and timing; it must not decide anything. One registry per app, so that several
apps in one test process do not share numbers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Buckets around the targets of DESIGN §6: p99 25 ms for submit -> push, 50 ms to 500 screens.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.intake = Counter(
            "dispatch_intake",
            "Calls and incident submissions by category and outcome",
            ["category", "outcome"],
            registry=self.registry,
        )
        self.intake_to_commit = Histogram(
            "dispatch_intake_to_commit_seconds",
            "From receiving a submission to its durable commit",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.commit_to_push = Histogram(
            "dispatch_commit_to_push_seconds",
            "From commit to the event written to a live screen's socket",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "dispatch_commit_batch_size",
            "Changes committed together by the writer (group commit)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.sockets = Gauge(
            "dispatch_stream_sockets",
            "Connected stream sockets",
            registry=self.registry,
        )
        self.resyncs = Counter(
            "dispatch_stream_resyncs",
            "Sockets closed because they fell behind (client resumes with ?after=)",
            registry=self.registry,
        )
        self.db_unavailable = Counter(
            "dispatch_db_unavailable",
            "Requests answered 503 because the database could not be reached",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
