"""Who is this address: its country (offline, from RIR delegation data), its
network (Team Cymru's IP-to-ASN service over DNS) and its hostname (PTR, then
forward-confirmed). Each worker asks concurrently, waits at most a fixed time,
and remembers answers per address."""

import ipaddress
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
from flask import Flask, current_app
from werkzeug.exceptions import BadRequest

from .addresses import IPAddress, address_scope

FIELDS = (
    "country",
    "country_name",
    "asn",
    "as_name",
    "prefix",
    "hostname",
    "hostname_confirmed",
)
NO_FACTS = {**dict.fromkeys(FIELDS), "hostname_confirmed": False}

# How long an answer is kept: its DNS TTL, within these bounds, so that a TTL of
# 0 does not mean a query per visit and a week-long one is looked at again.
SHORTEST_KEEP, LONGEST_KEEP = 60, 3600
# A question that got no answer (a dead or slow resolver) is not asked again
# for this long: every visitor would otherwise wait the whole time limit.
FAILURE_KEEP = 30
# "Does not exist" is an answer, kept as long as a short TTL.
NEGATIVE_KEEP = 300


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


def keep_for(ttl: float | None) -> float:
    """Seconds to keep an answer with this TTL; None is a question left open."""
    return FAILURE_KEEP if ttl is None else min(max(ttl, SHORTEST_KEEP), LONGEST_KEEP)


# --- Asking ------------------------------------------------------------------------


class Unanswered(Exception):
    """The resolver gave no answer in time, or none at all."""


class Lookups:
    """One per worker: a resolver, a pool to ask concurrently, and a bounded cache
    of answers per address."""

    def __init__(self, sources, resolvers, timeout: float, cache_size: int = 4096):
        self.sources = sources
        self.timeout = timeout
        self.resolver = dns.resolver.Resolver(configure=not resolvers)
        if resolvers:
            self.resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in resolvers
            ]
        # Record-level caching by TTL: addresses of one network share an AS name.
        self.resolver.cache = dns.resolver.LRUCache(cache_size)
        self.pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="lookup")
        self.cache: OrderedDict = OrderedDict()
        self.cache_size = cache_size
        self.lock = threading.Lock()

    def facts(self, address: IPAddress | None) -> dict:
        """Every field for `address`: nulls for what is not public or not known
        within the time limit. Shared, cached answers: read them, don't change
        them (describe_address copies them into each answer)."""
        if not self.sources or address_scope(address) != "public":
            return NO_FACTS
        now = time.monotonic()
        with self.lock:
            cached = self.cache.get(address)
            if cached and cached[0] > now:
                self.cache.move_to_end(address)
                return cached[1]
        facts, expires = self._ask(address, now)
        with self.lock:
            self.cache[address] = (expires, facts)
            self.cache.move_to_end(address)
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return facts

    def _ask(self, address: IPAddress, now: float) -> tuple[dict, float]:
        deadline = now + self.timeout
        facts = dict(NO_FACTS)
        if "country" in self.sources:
            facts.update(country_facts(iptocc.country_code(str(address))))
        asks = []
        if "asn" in self.sources:
            asks.append(self.pool.submit(self._network, address, deadline))
        if "hostname" in self.sources:
            asks.append(self.pool.submit(self._hostname, address, deadline))
        done, _ = wait(asks, timeout=max(0.0, deadline - time.monotonic()))
        keep = LONGEST_KEEP
        for ask in asks:
            if ask in done and ask.exception() is None:
                found, ttl = ask.result()
                facts.update(found)
                keep = min(keep, keep_for(ttl))
            else:  # not in time, or no answer: ask again soon, not on every visit
                keep = min(keep, FAILURE_KEEP)
        return facts, time.monotonic() + keep

    def _records(self, name, rdtype: str, deadline: float):
        """The answer's records and TTL; ([], NEGATIVE_KEEP) when none exist."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Unanswered(name)
        try:
            answer = self.resolver.resolve(
                name, rdtype, lifetime=remaining, search=False
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return [], NEGATIVE_KEEP
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            raise Unanswered(name) from error
        return list(answer), answer.rrset.ttl

    def _network(self, address: IPAddress, deadline: float) -> tuple[dict, float]:
        records, ttl = self._records(cymru_origin_name(address), "TXT", deadline)
        origin = parse_origin([_txt(record) for record in records])
        if origin is None:
            return {}, ttl
        asn, prefix = origin
        found = {"asn": asn, "prefix": prefix}
        try:
            names, name_ttl = self._records(f"AS{asn}.asn.cymru.com", "TXT", deadline)
        except Unanswered:  # the network stands without its name; ask again soon
            return found, None
        found["as_name"] = parse_as_name([_txt(record) for record in names])
        return found, min(ttl, name_ttl)

    def _hostname(self, address: IPAddress, deadline: float) -> tuple[dict, float]:
        pointer = dns.reversename.from_address(str(address))
        records, ttl = self._records(pointer, "PTR", deadline)
        if not records:
            return {}, ttl
        name = records[0].target
        found = {"hostname": name.to_text(omit_final_dot=True)}
        try:
            forward, forward_ttl = self._records(
                name, "A" if address.version == 4 else "AAAA", deadline
            )
        except Unanswered:  # the name stands, unconfirmed; ask again soon
            return found, None
        found["hostname_confirmed"] = any(
            ipaddress.ip_address(record.address) == address for record in forward
        )
        return found, min(ttl, forward_ttl)


def _txt(record) -> str:
    return b"".join(record.strings).decode("utf-8", "replace")


def parse_lookup_address(text: str) -> IPAddress:
    """The address a visitor asked about, or a 400 that says what was wrong."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        raise BadRequest(
            f"{text!r} is not an IP address: give one like 8.8.8.8 or 2001:4860::8888."
        ) from None
    return getattr(address, "ipv4_mapped", None) or address


def init_app(app: Flask) -> None:
    """Built with the app, so in the worker that serves it: its resolver's
    sockets and its pool are that worker's own."""
    app.extensions["lookups"] = Lookups(
        app.config["LOOKUPS"], app.config["DNS_RESOLVER"], app.config["LOOKUP_TIMEOUT"]
    )


def facts_about(address: IPAddress | None) -> dict:
    return current_app.extensions["lookups"].facts(address)
