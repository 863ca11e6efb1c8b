"""Fan-out of committed events to live screens: one bounded queue per subscriber.

``publish`` never awaits, so a slow screen cannot slow the writer or other screens; a subscriber
that falls behind is dropped and told to resync. It must not read the database itself: replay
comes through the ``Replay`` callable the caller passes in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from dispatch.incidents import Event, event_visible

Replay: TypeAlias = Callable[[int, str | None, int], Awaitable[list[Event]]]

# Replay reads the event log in pages so that one far-behind screen cannot hold a huge result.
REPLAY_PAGE = 500


class Resync(Exception):
    """The subscriber fell behind its queue bound; the client must reconnect with ?after=."""


@dataclass(frozen=True, slots=True)
class Delivery:
    event: Event
    # perf_counter() at commit, for the commit -> push histogram; None for replayed events.
    committed_at: float | None


@dataclass(eq=False, slots=True)
class Subscriber:
    """``agency`` None is a centre screen (call-taker, supervisor, admin), which sees all."""

    agency: str | None
    queue: asyncio.Queue[Delivery]
    overflowed: bool = False


class Hub:
    def __init__(self, *, queue_size: int) -> None:
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()

    def subscribe(self, agency: str | None) -> Subscriber:
        sub = Subscriber(agency=agency, queue=asyncio.Queue(self.queue_size))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, events: Sequence[Event], committed_at: float | None = None) -> None:
        """Queue committed events for every subscriber allowed to see them. Never awaits."""
        stamp = committed_at if committed_at is not None else time.perf_counter()
        for sub in list(self.subscribers):
            for event in events:
                if not event_visible(event, sub.agency):
                    continue
                try:
                    sub.queue.put_nowait(Delivery(event, stamp))
                except asyncio.QueueFull:
                    self._drop(sub)
                    break

    def _drop(self, sub: Subscriber) -> None:
        sub.overflowed = True
        self.subscribers.discard(sub)

    async def follow(self, sub: Subscriber, after: int, replay: Replay) -> AsyncIterator[Delivery]:
        """Replay from the log after ``after``, then go live; no gap and no repeat.

        The subscriber must already be registered (``subscribe``) before this starts, so that
        anything committed during the replay is in the queue too; seqs already sent are skipped.
        """
        last = after
        while True:
            page = await replay(last, sub.agency, REPLAY_PAGE)
            for event in page:
                last = event.seq
                yield Delivery(event, None)
            if len(page) < REPLAY_PAGE:
                break
        while True:
            # An overflow can only happen while the queue is full, so this check is reached
            # before the sender could ever wait on an empty queue of a dropped subscriber.
            if sub.overflowed:
                raise Resync
            delivery = await sub.queue.get()
            if delivery.event.seq <= last:
                continue
            last = delivery.event.seq
            yield delivery
