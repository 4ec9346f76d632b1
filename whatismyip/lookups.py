"""Who is this address: its country (offline, from RIR delegation data), its
network (Team Cymru's IP-to-ASN service over DNS) and its hostname (PTR, then
forward-confirmed). Each worker asks concurrently, waits at most a fixed time,
and remembers answers per address."""

import ipaddress
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor, wait

import dns.exception
import dns.nameserver
import dns.resolver
import dns.reversename
import iptocc
from dns.rdatatype import AAAA, PTR, TXT, A
from flask import Flask, current_app
from werkzeug.exceptions import BadRequest
from werkzeug.routing import BaseConverter, ValidationError

from .addresses import IPAddress, NotAnAddress, address_scope, parse_address
from .location import LOCATION_FIELDS, Locations

# AS numbers are 32 bits (RFC 6793).
MAX_ASN = 2**32 - 1
# Each source and the fields it answers.
SOURCE_FIELDS = {
    "country": ("country", "country_name"),
    "asn": ("asn", "as_name", "prefix"),
    "hostname": ("hostname", "hostname_confirmed"),
    "location": LOCATION_FIELDS,
}
DNS_SOURCES = ("asn", "hostname")
FIELDS = tuple(field for fields in SOURCE_FIELDS.values() for field in fields)
# An address with nothing to look up (not public): every field is known to be
# empty, so none is unavailable.
NO_FACTS = {
    **dict.fromkeys(FIELDS),
    "hostname_confirmed": False,
    "geo_source": None,
    "unavailable": (),
}

# How long an answer is kept: its DNS TTL, within these bounds, so that a TTL of
# 0 does not mean a query per visit and a week-long one is looked at again.
SHORTEST_KEEP, LONGEST_KEEP = 60, 3600
# "Does not exist" is an answer, kept as long as a short TTL.
NEGATIVE_KEEP = 300
# Questions in flight at once per worker: a visitor's own address, and others'
# (/api/lookup, /lookup). Separate, so a flood of other addresses never leaves
# visitors without room; a question with no room is not asked, not queued.
OWN_QUESTIONS, OTHER_QUESTIONS = 32, 16
# A resolver that lets this many questions in a row time out is skipped for
# COOLDOWN seconds: every visitor would otherwise wait the whole time limit.
TIMEOUTS_IN_A_ROW, COOLDOWN = 5, 30
# Seconds a question leaves, at the end of the time limit, to hand back what it
# found before the caller stops waiting: dnspython sleeps 0.1 s after a query
# times out before it gives up, and the answer then has to reach the caller.
HANDOVER = 0.15
# What a text route tells a client to wait when a fact is unavailable.
RETRY_SECONDS = 5

log = logging.getLogger("whatismyip")


# --- Pure functions ----------------------------------------------------------------


def country_facts(code: str | None) -> dict:
    """An ISO 3166-1 alpha-2 code and the country's English name, or nulls for a
    code that is not a country (RIR data has EU and AP for some blocks)."""
    import pycountry  # on the first lookup, not at every worker's boot

    country = pycountry.countries.get(alpha_2=code) if code else None
    if country is None:
        return {"country": None, "country_name": None}
    name = getattr(country, "common_name", None) or country.name
    return {"country": country.alpha_2, "country_name": name}


def flag(code: str | None) -> str:
    """The flag emoji for a country code: its two regional-indicator letters."""
    if not code:
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in code.upper())


def cymru_origin_name(address: IPAddress) -> str:
    """The TXT name Team Cymru answers with the address's announced prefix."""
    zone = "origin.asn.cymru.com" if address.version == 4 else "origin6.asn.cymru.com"
    reversed_address = address.reverse_pointer.rsplit(".", 2)[0]  # less in-addr.arpa
    return f"{reversed_address}.{zone}"


def parse_origin(records: list[str]) -> tuple[int, str] | None:
    """(origin AS, prefix) from Cymru's "15169 | 8.8.8.0/24 | US | arin | 2023-12-28"
    records: the most specific prefix, and its first AS if several announce it."""
    best = None
    for record in records:
        fields = [field.strip() for field in record.split("|")]
        if len(fields) < 2 or not fields[0].split():
            continue
        try:
            asn = int(fields[0].split()[0])
            prefix = ipaddress.ip_network(fields[1], strict=False)
        except ValueError:
            continue
        if not 0 <= asn <= MAX_ASN:  # not an AS number, whatever the record says
            continue
        if best is None or prefix.prefixlen > best[1].prefixlen:
            best = (asn, prefix)
    return (best[0], str(best[1])) if best else None


def parse_as_name(records: list[str]) -> str | None:
    """The name from "15169 | US | arin | 2000-03-30 | GOOGLE - Google LLC, US",
    without the country Cymru appends."""
    for record in records:
        fields = record.split("|")
        if len(fields) >= 5 and fields[4].strip():
            return re.sub(r",\s*[A-Z]{2}$", "", fields[4].strip())
    return None


def keep_for(ttl: float) -> float:
    """Seconds to keep an answer with this TTL."""
    return min(max(ttl, SHORTEST_KEEP), LONGEST_KEEP)


# --- Asking ------------------------------------------------------------------------


class Unanswered(Exception):
    """The resolver gave no answer in time, or none at all."""


class Breaker:
    """Notices a resolver that has stopped answering: after TIMEOUTS_IN_A_ROW
    timeouts with no answer between them, DNS is skipped for COOLDOWN seconds,
    then tried again. Said in the log once as it opens and once as it closes."""

    def __init__(self):
        self.timeouts = 0
        self.open_until = 0.0
        self.lock = threading.Lock()

    def is_open(self, now: float) -> bool:
        return now < self.open_until

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.open_until - now)

    def timed_out(self, now: float):
        with self.lock:
            self.timeouts += 1
            if self.timeouts >= TIMEOUTS_IN_A_ROW and not self.is_open(now):
                if self.timeouts == TIMEOUTS_IN_A_ROW:
                    log.warning(
                        "DNS resolver not answering (%d timeouts in a row): "
                        "network and hostname lookups skipped, tried again "
                        "every %d s",
                        self.timeouts,
                        COOLDOWN,
                    )
                self.open_until = now + COOLDOWN

    def answered(self):
        if self.timeouts:  # read without the lock: most answers find nothing to do
            with self.lock:
                if self.timeouts >= TIMEOUTS_IN_A_ROW:
                    log.warning("DNS resolver answering again: lookups resumed")
                self.timeouts, self.open_until = 0, 0.0


class Lookups:
    """One per worker: a resolver, a pool to ask concurrently with a budget for
    visitors' own addresses and one for others', a bounded cache of answers per
    address, and the questions in flight, which later askers join."""

    def __init__(
        self,
        sources,
        resolvers,
        timeout: float,
        cache_size: int = 4096,
        locations: Locations | None = None,
    ):
        self.sources = sources
        self.timeout = timeout
        # The location database, if there is one: `geo_source` in every answer
        # says which, or null.
        self.locations = locations if locations and locations.reader else None
        source = self.locations.source if self.locations else None
        self.no_facts = {**NO_FACTS, "geo_source": source}  # in its place
        self.resolver = dns.resolver.Resolver(configure=not resolvers)
        if resolvers:
            self.resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in resolvers
            ]
        # Record-level caching by TTL: addresses of one network share an AS name.
        self.resolver.cache = dns.resolver.LRUCache(cache_size)
        self.pool = ThreadPoolExecutor(
            max_workers=OWN_QUESTIONS + OTHER_QUESTIONS, thread_name_prefix="lookup"
        )
        self.room = {
            True: threading.BoundedSemaphore(OWN_QUESTIONS),
            False: threading.BoundedSemaphore(OTHER_QUESTIONS),
        }
        self.breaker = Breaker()
        # (source, address) -> (expires, found): answers only, never failures.
        self.cache: OrderedDict = OrderedDict()
        self.cache_size = cache_size
        # (source, address) -> the Future of the question being asked.
        self.asking: dict = {}
        self.lock = threading.Lock()

    def facts(self, address: IPAddress | None, own: bool, wanted=SOURCE_FIELDS) -> dict:
        """Every field for `address`, and `unavailable`: the fields whose source
        could not be asked or did not answer within the time limit (a null field
        not listed there is known to be empty). Only the `wanted` sources are
        asked; the country never waits for DNS."""
        return self.facts_of_many([address], own, wanted)[0]

    def facts_of_many(
        self, addresses: list, own: bool, wanted=SOURCE_FIELDS, patient=False
    ) -> list[dict]:
        """facts() for each address, asked concurrently, all within one time
        limit. A `patient` caller (a batch) waits for room in the budget until
        that limit, where a single question finding none is answered at once."""
        deadline = time.monotonic() + self.timeout
        # DNS must be done a little sooner, so that a partial answer (the
        # network without its name, a hostname not yet confirmed) is back in
        # time to be used rather than lost with its unanswered part.
        answer_by = deadline - min(HANDOVER, self.timeout / 4)
        started = [
            self._start(address, own, wanted, answer_by, patient)
            for address in addresses
        ]
        questions = [q for _, _, asking in started for q in asking.values()]
        if questions:
            wait(questions, timeout=max(0.0, deadline - time.monotonic()))
        return [self._finish(*parts) for parts in started]

    def _start(self, address, own: bool, wanted, deadline: float, patient: bool):
        """What is known at once, the sources missing, and the questions asked."""
        if address_scope(address) != "public":
            return self.no_facts, (), {}
        answer = dict(self.no_facts)
        missing = []
        if "country" in wanted:
            if "country" in self.sources:
                answer.update(country_facts(iptocc.country_code(str(address))))
            else:
                missing.append("country")
        if "location" in wanted:
            if "location" in self.sources and self.locations:
                answer.update(self.locations.locate(address))
            else:
                missing.append("location")
        asking = {}
        now = time.monotonic()
        for source in DNS_SOURCES:
            if source not in wanted:
                continue
            if source not in self.sources:
                missing.append(source)
            elif (found := self._cached(source, address, now)) is not None:
                answer.update(found)
            elif question := self._ask(source, address, own, now, deadline, patient):
                asking[source] = question
            else:
                missing.append(source)
        return answer, missing, asking

    def _finish(self, answer: dict, missing, asking: dict) -> dict:
        """The answer once its questions are answered, or the time is up."""
        if answer is self.no_facts:
            return answer
        fields = [field for source in missing for field in SOURCE_FIELDS[source]]
        for source, question in asking.items():
            if question.done() and question.exception() is None:
                found, unanswered = question.result()
                answer.update(found)
                fields += unanswered
            else:
                fields += SOURCE_FIELDS[source]
        answer["unavailable"] = [field for field in FIELDS if field in fields]
        return answer

    def retry_after(self) -> int:
        """Seconds until an unavailable fact may be worth asking for again."""
        left = self.breaker.seconds_left(time.monotonic())
        return max(RETRY_SECONDS, math.ceil(left))

    def _cached(self, source: str, address: IPAddress, now: float) -> dict | None:
        key = (source, address)
        with self.lock:
            cached = self.cache.get(key)
            if cached is None:
                return None
            if cached[0] <= now:
                del self.cache[key]
                return None
            self.cache.move_to_end(key)
            return cached[1]

    def _ask(self, source, address, own: bool, now: float, deadline, patient):
        """The question in flight for this address, joined; else a new one if
        the resolver is answering and the budget has room (or, for a `patient`
        caller, comes to have room before the deadline); else None."""
        key = (source, address)
        room = self.room[own]
        with self.lock:
            question = self.asking.get(key)
            if question is not None or self.breaker.is_open(now):
                return question
            if room.acquire(blocking=False):
                question = self.asking[key] = self.pool.submit(
                    self._answer, source, address, deadline, room
                )
                return question
        wait_for_room = max(0.0, deadline - time.monotonic())
        if not patient or not room.acquire(timeout=wait_for_room):
            return None
        with self.lock:
            question = self.asking.get(key)
            if question is None:
                question = self.asking[key] = self.pool.submit(
                    self._answer, source, address, deadline, room
                )
                return question
        room.release()  # asked meanwhile: that question answers this one too
        return question

    def _answer(self, source: str, address: IPAddress, deadline: float, room):
        """Asks, and keeps a complete answer for its TTL."""
        key = (source, address)
        try:
            ask = self._network if source == "asn" else self._hostname
            found, unanswered, ttl = ask(address, deadline)
            if not unanswered:
                with self.lock:
                    self.cache[key] = (time.monotonic() + keep_for(ttl), found)
                    self.cache.move_to_end(key)
                    while len(self.cache) > self.cache_size:
                        self.cache.popitem(last=False)
            return found, unanswered
        finally:
            room.release()
            with self.lock:
                self.asking.pop(key, None)

    def _records(self, name, rdtype, deadline: float):
        """The answer's records and TTL; ([], NEGATIVE_KEEP) when none exist."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Unanswered
        try:
            answer = self.resolver.resolve(
                name, rdtype, lifetime=remaining, search=False
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            self.breaker.answered()
            return [], NEGATIVE_KEEP
        except dns.exception.Timeout as error:
            self.breaker.timed_out(time.monotonic())
            raise Unanswered from error
        except dns.resolver.NoNameservers as error:  # it answered, with a failure
            self.breaker.answered()
            raise Unanswered from error
        self.breaker.answered()
        return list(answer), answer.rrset.ttl

    def _network(self, address: IPAddress, deadline: float):
        """(found, fields left unanswered, TTL) for the network fields."""
        records, ttl = self._records(cymru_origin_name(address), TXT, deadline)
        origin = parse_origin([_txt(record) for record in records])
        if origin is None:
            return {}, (), ttl
        asn, prefix = origin
        found = {"asn": asn, "prefix": prefix}
        try:
            names, name_ttl = self._records(f"AS{asn}.asn.cymru.com", TXT, deadline)
        except Unanswered:  # the network stands without its name
            return found, ("as_name",), ttl
        found["as_name"] = parse_as_name([_txt(record) for record in names])
        return found, (), min(ttl, name_ttl)

    def _hostname(self, address: IPAddress, deadline: float):
        """(found, fields left unanswered, TTL) for the hostname fields."""
        pointer = dns.reversename.from_address(str(address))
        records, ttl = self._records(pointer, PTR, deadline)
        if not records:
            return {}, (), ttl
        name = records[0].target
        found = {"hostname": name.to_text(omit_final_dot=True)}
        try:
            forward, forward_ttl = self._records(
                name, A if address.version == 4 else AAAA, deadline
            )
        except Unanswered:  # the name stands, unconfirmed
            return found, ("hostname_confirmed",), ttl
        found["hostname_confirmed"] = any(
            ipaddress.ip_address(record.address) == address for record in forward
        )
        return found, (), min(ttl, forward_ttl)


def _txt(record) -> str:
    return b"".join(record.strings).decode("utf-8", "replace")


def parse_lookup_address(text: str) -> IPAddress:
    """The address a visitor asked about, or a 400 that says what was wrong."""
    try:
        return parse_address(text)
    except NotAnAddress as error:
        raise BadRequest(str(error)) from None


class AddressConverter(BaseConverter):
    """`<address:…>` in a route: a path segment that parses as an IP address
    (ipinfo.io's /8.8.8.8); anything else leaves the route unmatched, a 404."""

    regex = r"[0-9A-Fa-f:.]+"

    def to_python(self, value: str) -> IPAddress:
        try:
            return parse_address(value)
        except NotAnAddress:
            raise ValidationError from None


def init_app(app: Flask) -> None:
    """Built with the app, so in the worker that serves it: its resolver's
    sockets and its pool are that worker's own."""
    config = app.config
    app.extensions["lookups"] = Lookups(
        config["LOOKUPS"],
        config["DNS_RESOLVER"],
        config["LOOKUP_TIMEOUT"],
        locations=Locations(config["GEO_DB"])
        if "location" in config["LOOKUPS"]
        else None,
    )


def location_installed() -> bool:
    return current_app.extensions["lookups"].locations is not None


def facts_about(address: IPAddress | None, *, own: bool, wanted=SOURCE_FIELDS):
    """What is known of `address`: the visitor's `own`, or one they asked about."""
    return current_app.extensions["lookups"].facts(address, own, wanted)


def facts_about_many(addresses: list) -> list[dict]:
    """What is known of each of a batch of addresses, looked up together within
    one lookup's time limit."""
    return current_app.extensions["lookups"].facts_of_many(
        addresses, own=False, patient=True
    )


def unavailable_retry_after() -> int:
    return current_app.extensions["lookups"].retry_after()
