"""The one shape every source of facts has, and what it answers with.

A source knows how to answer one address before a deadline and how long its
answer may be kept; the engine (engine.py) does everything else that is common:
budgets, questions in flight, the cache, the deadline and `unavailable`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from ..addresses import IPAddress
from ..infra.redis_store import RedisStore

Found = Mapping[str, Any]


class Unavailable(Exception):  # noqa: N818 (a state of the answer, not a bug)
    """The source could not be asked, refused, or did not answer in time."""


class Answer(NamedTuple):
    """What a source found about one address: the fields it found, the fields
    it was asked for and could not answer in time (a partial answer, never
    kept), and how many seconds the answer may be kept (its TTL). A tuple:
    made for every source of every lookup, so made cheaply."""

    found: Found
    unanswered: tuple[str, ...] = ()
    ttl: float = 0.0


@dataclass(frozen=True)
class Origin:
    """Where a source's data came from: its name, URL and date (a month, a
    day, or None where it is asked live)."""

    name: str
    url: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Budget:
    """Questions in flight at once per worker for visitors' own addresses and
    for others': kept apart, so a flood of other addresses never leaves a
    visitor without room. Sources that share an upstream share one budget."""

    name: str
    own: int
    other: int


class Source:
    """One source of facts. `name` is its name in LOOKUPS and `fields` the
    fields it answers. An `instant` source answers in process (a file, data
    shipped with a package): the engine calls it directly, with no budget,
    question in flight or cache. The others are asked in the engine's pool
    within `budget`, each before its `timeout`."""

    name: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]
    # The fields' values where nothing is known.
    empty: ClassVar[Mapping[str, Any]] = {}
    instant: ClassVar[bool] = False
    # Part of every answer about an address (the report, /api/lookup), rather
    # than an answer of its own (/api/owner).
    in_address_facts: ClassVar[bool] = True
    # Said in the log when an answer could not be read.
    label: ClassVar[str] = ""
    budget: Budget | None = None
    timeout: float = 1.0
    # Answers kept per worker.
    cache_size: int = 4096
    # A second cache shared by every worker and dyno (Redis), or None.
    shared: SharedAnswers | None = None

    @classmethod
    def build(cls, setup: Setup) -> Source:
        """The source as the settings ask for it, in this worker."""
        raise NotImplementedError

    def ask(self, address: IPAddress, deadline: float) -> Answer:
        """The answer for `address`, on the monotonic clock's `deadline`;
        Unavailable when there is none to give."""
        raise NotImplementedError

    def origin(self) -> Origin | None:
        """Where the source's data came from; None where nothing can be said."""
        return None

    def ready(self, now: float) -> bool:
        """Whether its upstream may be asked now (a breaker closed)."""
        return True

    def retry_after(self, now: float) -> float:
        """Seconds until an unavailable answer may be worth asking for again."""
        return 0.0

    def cache_keys(self, address: IPAddress) -> tuple[Hashable, ...]:
        """Where a kept answer for `address` may be, the widest first; the last
        (the address's own) is also the key of its question in flight."""
        return (address,)

    def cache_key(self, address: IPAddress, answer: Answer) -> Hashable:
        """Where the answer found for `address` is kept."""
        return self.cache_keys(address)[-1]


class SharedAnswers:
    """Answers kept for every worker and dyno (in Redis), read before asking;
    a source's `shared`. Down or slow, each worker does without."""

    def get(self, keys: tuple[Hashable, ...]) -> tuple[Hashable, Answer] | None:
        raise NotImplementedError

    def put(self, key: Hashable, found: Found, ttl: float) -> None:
        raise NotImplementedError


@dataclass
class Setup:
    """What a source is built from, in the worker that uses it: the settings
    (LOOKUPS, DNS_RESOLVER, ...), the worker's Redis store if there is one,
    and `parts` that sources built from the same settings share (one
    resolver for the two DNS sources), made by the first that needs them."""

    settings: Mapping[str, Any]
    store: RedisStore | None = None
    parts: dict[str, Any] = field(default_factory=dict)
