"""What we tell a visitor about their request and about an address, as
JSON-ready data: what the request carried (handed over by the web layer) and
what the sources found, asked through the engine. No HTTP here."""

import math
import time
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from .addresses import IPAddress, address_scope
from .infra.redis_store import RedisStore
from .sources import BY_NAME, NAMES, SOURCES
from .sources.base import Answer, Setup, Source
from .sources.engine import Engine


# Scripts send the same query strings again and again: each is parsed once per
# worker (a bounded number of them, at most 8 KB each).
@lru_cache(maxsize=256)
def query_pairs(query_string: str) -> tuple[tuple[str, str], ...]:
    """Every name and value in the order sent.

    Blank values are kept; `+` is a space; malformed percent-escapes are shown
    as written and invalid UTF-8 as U+FFFD.
    """
    return tuple(parse_qsl(query_string, keep_blank_values=True, errors="replace"))


def group_args(pairs: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """Name -> its values: names in first-seen order, values in order."""
    args: dict[str, list[str]] = {}
    for name, value in pairs:
        args.setdefault(name, []).append(value)
    return args


def readable_header(value: str) -> str:
    """A header value as the client meant it. WSGI hands values over decoded as
    Latin-1; most clients that send anything else send UTF-8, so show that
    where the bytes are valid UTF-8, and the value as received otherwise."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def readable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: readable_header(value) for name, value in headers.items()}


def format_ip(address: IPAddress | None) -> str | None:
    return str(address) if address is not None else None


def describe_address(
    address: IPAddress | None, facts: Mapping[str, Any]
) -> dict[str, Any]:
    """An address, where it belongs, and what the lookups found about it."""
    scope = address_scope(address)
    return {
        "ip": format_ip(address),
        "ip_version": address.version if address is not None else None,
        "ip_is_global": scope == "public",
        "ip_scope": scope,
        **facts,
    }


def as_lines(answer: Mapping[str, Any]) -> str:
    """An address's answer (describe_address's) as `name: value` lines for a
    terminal, in the JSON's order and names: null is empty, true and false as
    in JSON, a list comma-separated."""
    lines = []
    for name, value in answer.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif value is None:
            value = ""
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def build_report(
    address: IPAddress | None,
    facts: Mapping[str, Any],
    query_string: str,
    headers: dict[str, str],
) -> dict[str, Any]:
    """Everything we tell a visitor about their request."""
    pairs = query_pairs(query_string)
    return {
        **describe_address(address, facts),
        "args": group_args(pairs),
        "pairs": pairs,
        "query_string": query_string,
        "user_agent": headers.get("User-Agent"),
        "request_id": headers.get("X-Request-Id"),
        "headers": headers,
    }


# --- What the sources found ----------------------------------------------------------

# Sources whose fields are part of every answer about an address, in order.
ADDRESS_SOURCES = tuple(s for s in SOURCES if s.in_address_facts)
SOURCE_FIELDS = {source.name: source.fields for source in ADDRESS_SOURCES}
FIELDS = tuple(field for source in ADDRESS_SOURCES for field in source.fields)
# The owner fields where nothing is known.
NO_OWNER = BY_NAME["owner"].empty
# What a text route tells a client to wait, at least, when a fact is unavailable.
RETRY_SECONDS = 5


class Reporter:
    """What is known of an address, from the sources the settings turned on,
    asked through the worker's engine: the fields of every address source
    and `unavailable`, the fields that could not be looked up in time (a null
    field not listed there is known to be empty); and who runs its network."""

    def __init__(self, engine: Engine):
        self.engine = engine
        location = engine.sources.get("location")
        origin = location.origin() if location else None
        # `geo_source` in every answer: which location database, or null.
        self.geo_source = (
            {"name": origin.name, "month": origin.date} if origin else None
        )
        # An address with nothing to look up (not public): every field is
        # known to be empty, so none is unavailable.
        self.no_facts: dict[str, Any] = {
            **{k: v for source in ADDRESS_SOURCES for k, v in source.empty.items()},
            "geo_source": self.geo_source,
            "unavailable": (),
        }

    def location_installed(self) -> bool:
        return self.geo_source is not None

    def facts(
        self, address: IPAddress | None, own: bool, wanted: Iterable[str] = NAMES
    ) -> dict[str, Any]:
        """Every field for `address`; only the `wanted` sources are asked."""
        if address is None or address_scope(address) != "public":
            return self.no_facts
        names, asked = self._sources(wanted)
        return self._combine(names, self.engine.answers([address], own, asked)[0])

    def facts_of_many(
        self,
        addresses: list[IPAddress | None],
        own: bool,
        wanted: Iterable[str] = NAMES,
        patient: bool = False,
    ) -> list[dict[str, Any]]:
        """facts() for each address, asked concurrently, all within one time
        limit. A `patient` caller (a batch) waits for room in the budget until
        that limit, where a single question finding none is answered at once."""
        names, asked = self._sources(wanted)
        public = [
            a for a in addresses if a is not None and address_scope(a) == "public"
        ]
        answers = iter(self.engine.answers(public, own, asked, patient))
        return [
            self._combine(names, next(answers))
            if address is not None and address_scope(address) == "public"
            else self.no_facts
            for address in addresses
        ]

    def _sources(self, wanted: Iterable[str]) -> tuple[list[str], list[str]]:
        """Of the `wanted` address sources, in order: all, and those turned on."""
        names = [name for name in SOURCE_FIELDS if name in wanted]
        return names, [name for name in names if name in self.engine.sources]

    def _combine(
        self, names: list[str], answers: dict[str, Answer | None]
    ) -> dict[str, Any]:
        facts = dict(self.no_facts)
        unavailable: list[str] = []
        for name in names:
            answer = answers.get(name)
            if answer is None:
                unavailable += SOURCE_FIELDS[name]
            else:
                facts.update(answer.found)
                unavailable += answer.unanswered
        # In the answer's order of fields, whatever order the sources came in.
        facts["unavailable"] = (
            [field for field in FIELDS if field in unavailable] if unavailable else []
        )
        return facts

    def owner_started(
        self, address: IPAddress | None, own: bool
    ) -> Callable[[], dict[str, Any]]:
        """Who runs `address`'s network, asked now: a function that waits for
        the answer (nulls for an address nobody is asked about; nulls and
        `unavailable` when the registry could not be asked in time)."""
        if address is None or address_scope(address) != "public":
            return lambda: {**NO_OWNER, "unavailable": []}
        pending = self.engine.start("owner", address, own)

        def answer() -> dict[str, Any]:
            found = pending.result()
            if found is None:
                return {**NO_OWNER, "unavailable": ["owner"]}
            return {**found.found, "unavailable": []}

        return answer

    def retry_after(self) -> int:
        """Seconds until an unavailable fact may be worth asking for again."""
        return max(RETRY_SECONDS, math.ceil(self.engine.retry_after(time.monotonic())))


def build_reporter(
    settings: Mapping[str, Any],
    store: RedisStore | None,
    sources: list[Source] | None = None,
) -> Reporter:
    """The worker's sources, as LOOKUPS turns them on (of those given, the
    tests' fakes, or else of the registered ones), and their engine."""
    chosen = settings["LOOKUPS"]
    if sources is None:
        setup = Setup(settings, store)
        sources = [source.build(setup) for source in SOURCES if source.name in chosen]
    return Reporter(Engine(source for source in sources if source.name in chosen))
