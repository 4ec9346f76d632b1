"""The one engine every source is asked through, per worker: budgets kept apart
for visitors' own addresses and for others', one question per address and
source in flight (later askers join it), a bounded cache of answers (never of
failures) with each answer's TTL, the deadline, and politeness per upstream.
A source only answers one address (base.Source.ask); this does the rest."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import NamedTuple, cast

from ..addresses import IPAddress
from .base import Answer, Source, Unavailable

# Seconds a question leaves, at the end of its time limit, to hand back what it
# found before the caller stops waiting (dnspython sleeps 0.1 s after a query
# times out before it gives up, and the answer then has to reach the caller);
# a quarter of the time limit where that is shorter.
HANDOVER = 0.15

log = logging.getLogger("whatismyip")


class TTLCache:
    """Answers by key, each until its TTL runs out, the least recently used
    dropped first past `size`. Failures are never put here."""

    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict[Hashable, tuple[float, Answer]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, keys: Iterable[Hashable], now: float) -> Answer | None:
        """The answer kept under the first of `keys` that has a live one."""
        with self.lock:
            for key in keys:
                kept = self.entries.get(key)
                if kept is None:
                    continue
                if kept[0] <= now:
                    del self.entries[key]
                    continue
                self.entries.move_to_end(key)
                return kept[1]
        return None

    def put(self, key: Hashable, answer: Answer, now: float) -> None:
        """Keeps `answer` for its TTL."""
        with self.lock:
            self.entries[key] = (now + answer.ttl, answer)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self.entries)


class Upstream:
    """Politeness towards one upstream (a registry, a download host): at most
    `places` of this worker's questions to it at once, and none while it has
    asked to be left alone."""

    def __init__(self, places: int):
        self.places = threading.BoundedSemaphore(places)
        self.paused_until = 0.0

    def paused(self, now: float) -> bool:
        return now < self.paused_until

    def pause(self, seconds: float, now: float) -> None:
        self.paused_until = now + seconds

    def enter(self, deadline: float) -> bool:
        """Takes a place, waiting for one up to `deadline`; False if none came."""
        return self.places.acquire(timeout=max(0.0, deadline - time.monotonic()))

    def leave(self) -> None:
        self.places.release()


class Question(NamedTuple):
    """One source's question about one address, in flight: where it is kept
    among those in flight, and the budget whose place it holds."""

    source: Source
    address: IPAddress
    flight: tuple[str, Hashable]
    deadline: float
    budget: threading.BoundedSemaphore


# What a source's answer is while it is under way: the answer (or None, it is
# unavailable) where it was known at once, else the question in flight.
Started = Answer | Future[Answer] | None


def settled(started: Started) -> Answer | None:
    """The answer, once its question is done; None if it is not, or failed."""
    if not isinstance(started, Future):
        return started
    if started.done() and started.exception() is None:
        return started.result()
    return None


class Pending:
    """One source's answer for one address, started: `result()` waits for it
    up to the deadline; None when it is unavailable."""

    __slots__ = ("deadline", "started")

    def __init__(self, started: Started, deadline: float):
        self.started, self.deadline = started, deadline

    def result(self) -> Answer | None:
        started = self.started
        if isinstance(started, Future) and not started.done():
            wait([started], timeout=max(0.0, self.deadline - time.monotonic()))
        return settled(started)


class Engine:
    """One per worker, over the sources the settings turned on: a pool to ask
    them concurrently, each budget's places for own and other addresses, each
    source's cache, and the questions in flight."""

    def __init__(self, sources: Iterable[Source]):
        self.sources = {source.name: source for source in sources}
        asked = [s for s in self.sources.values() if not s.instant and s.budget]
        budgets = {
            source.budget.name: source.budget for source in asked if source.budget
        }
        # (budget, own) -> the places left for questions in flight.
        self.budgets: dict[tuple[str, bool], threading.BoundedSemaphore] = {}
        for budget in budgets.values():
            self.budgets[budget.name, True] = threading.BoundedSemaphore(budget.own)
            self.budgets[budget.name, False] = threading.BoundedSemaphore(budget.other)
        threads = sum(budget.own + budget.other for budget in budgets.values())
        self.pool = ThreadPoolExecutor(
            max_workers=max(threads, 1), thread_name_prefix="lookup"
        )
        self.caches = {source.name: TTLCache(source.cache_size) for source in asked}
        # (source, key) -> the question being asked.
        self.in_flight: dict[tuple[str, Hashable], Future[Answer]] = {}
        self.lock = threading.Lock()

    def start(
        self, name: str, address: IPAddress, own: bool, patient: bool = False
    ) -> Pending:
        """The answer of source `name` for `address`, under way."""
        source = self.sources[name]
        now = time.monotonic()
        return Pending(
            self._start(source, address, own, patient, now), now + source.timeout
        )

    def _start(
        self, source: Source, address: IPAddress, own: bool, patient: bool, now: float
    ) -> Started:
        """At once from an instant source or the cache, else the question in
        flight joined or a new one, if the source is ready and its budget has
        room (a `patient` caller, a batch, waits for room until the deadline)."""
        if source.instant:
            try:
                return source.ask(address, now + source.timeout)
            except Unavailable:
                return None
        keys = source.cache_keys(address)
        kept = self.cached(source, keys, now)
        if kept is not None:
            return kept
        # A question must be done a little sooner than its caller stops
        # waiting, so that a partial answer is back in time to be used.
        answer_by = now + source.timeout - min(HANDOVER, source.timeout / 4)
        return self._ask(source, address, keys[-1], own, answer_by, patient)

    def cached(
        self, source: Source, keys: tuple[Hashable, ...], now: float
    ) -> Answer | None:
        """The answer kept in this worker, or else in the shared cache."""
        answer = self.caches[source.name].get(keys, now)
        if answer is None and source.shared is not None:
            kept = source.shared.get(keys)
            if kept is not None:
                key, answer = kept
                self.caches[source.name].put(key, answer, now)
        return answer

    def _ask(
        self,
        source: Source,
        address: IPAddress,
        key: Hashable,
        own: bool,
        deadline: float,
        patient: bool,
    ) -> Future[Answer] | None:
        assert source.budget is not None
        budget = self.budgets[source.budget.name, own]
        question = Question(source, address, (source.name, key), deadline, budget)
        with self.lock:
            future = self.in_flight.get(question.flight)
            if future is not None or not source.ready(time.monotonic()):
                return future
            if question.budget.acquire(blocking=False):
                return self._submit(question)
        wait_for_room = max(0.0, deadline - time.monotonic())
        if not patient or not question.budget.acquire(timeout=wait_for_room):
            return None
        with self.lock:
            future = self.in_flight.get(question.flight)
            if future is None:
                return self._submit(question)
        question.budget.release()  # asked meanwhile: that one answers this too
        return future

    def _submit(self, question: Question) -> Future[Answer]:
        """In flight, holding a place of its budget (taken) until answered."""
        future = self.pool.submit(self._answer, question)
        self.in_flight[question.flight] = future
        return future

    def _answer(self, question: Question) -> Answer:
        """Asks, and keeps a complete answer for its TTL."""
        source, address = question.source, question.address
        try:
            try:
                answer = source.ask(address, question.deadline)
                if not answer.unanswered and answer.ttl > 0:
                    self._keep(source, source.cache_key(address, answer), answer)
            except Unavailable:
                raise
            except Exception as error:  # what an upstream sent that no one foresaw
                log.warning(
                    "%s answer about %s could not be read (%s)",
                    source.label,
                    address,
                    type(error).__name__,
                )
                raise Unavailable from None
            return answer
        finally:
            question.budget.release()
            with self.lock:
                self.in_flight.pop(question.flight, None)

    def _keep(self, source: Source, key: Hashable, answer: Answer) -> None:
        self.caches[source.name].put(key, answer, time.monotonic())
        if source.shared is not None:
            source.shared.put(key, answer.found, answer.ttl)

    def answers(
        self,
        addresses: list[IPAddress],
        own: bool,
        names: Iterable[str],
        patient: bool = False,
    ) -> list[dict[str, Answer | None]]:
        """Each source's answer for each address, asked concurrently, all
        within the sources' time limits; None where it is unavailable."""
        now = time.monotonic()
        sources = [self.sources[name] for name in names]
        started = [
            {s.name: self._start(s, address, own, patient, now) for s in sources}
            for address in addresses
        ]
        futures = [f for a in started for f in a.values() if isinstance(f, Future)]
        if not futures:  # every answer known at once (instant, or kept)
            return cast(list[dict[str, Answer | None]], started)
        # The wait's own limit: a source that overruns its deadline is
        # unavailable, never a slower answer.
        timeout = max(s.timeout for s in sources if not s.instant)
        wait(futures, timeout=max(0.0, now + timeout - time.monotonic()))
        return [
            {name: settled(answer) for name, answer in asked.items()}
            for asked in started
        ]

    def retry_after(self, now: float) -> float:
        """Seconds until an unavailable answer may be worth asking for again."""
        return max((s.retry_after(now) for s in self.sources.values()), default=0.0)
