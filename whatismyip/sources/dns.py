"""Two sources over DNS, sharing one resolver and its breaker: the network
(`asn`: the origin AS, its name and the announced prefix, from Team Cymru's
IP-to-ASN service) and the hostname (`hostname`: PTR, then forward-confirmed)."""

import ipaddress
import logging
import re
import threading
import time
from collections.abc import Sequence
from typing import Any, TypedDict

import dns.exception
import dns.name
import dns.nameserver
import dns.resolver
import dns.reversename
from dns.rdatatype import AAAA, PTR, TXT, A, RdataType

from ..addresses import IPAddress
from .base import Answer, Budget, Origin, Setup, Source, Unavailable


class NetworkFacts(TypedDict, total=False):
    asn: int | None
    as_name: str | None
    prefix: str | None


class HostnameFacts(TypedDict, total=False):
    hostname: str | None
    hostname_confirmed: bool


# AS numbers are 32 bits (RFC 6793).
MAX_ASN = 2**32 - 1
# How long an answer is kept: its DNS TTL, within these bounds, so that a TTL of
# 0 does not mean a query per visit and a week-long one is looked at again.
SHORTEST_TTL, LONGEST_TTL = 60, 3600
# "Does not exist" is an answer, kept as long as a short TTL.
NEGATIVE_TTL = 300
# Questions to the resolver in flight at once per worker: for visitors' own
# addresses, and others' (/api/lookup, /lookup). A question with no room is
# not asked, not queued.
BUDGET = Budget("dns", own=32, other=16)
# A resolver that lets this many questions in a row time out is skipped for
# COOLDOWN seconds: every visitor would otherwise wait the whole time limit.
TIMEOUTS_IN_A_ROW, COOLDOWN = 5, 30
# Records kept by the resolver itself, by their TTL.
RECORD_CACHE_SIZE = 4096

log = logging.getLogger("whatismyip")


# --- Pure functions ----------------------------------------------------------------


def cymru_origin_name(address: IPAddress) -> str:
    """The TXT name Team Cymru answers with the address's announced prefix."""
    zone = "origin.asn.cymru.com" if address.version == 4 else "origin6.asn.cymru.com"
    reversed_address = address.reverse_pointer.rsplit(".", 2)[0]  # less in-addr.arpa
    return f"{reversed_address}.{zone}"


def parse_origin(records: list[str]) -> tuple[int, str] | None:
    """(origin AS, prefix) from Cymru's "15169 | 8.8.8.0/24 | US | arin | 2023-12-28"
    records: the most specific prefix, and its first AS if several announce it."""
    best: tuple[int, ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None
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


def ttl_for(ttl: float) -> float:
    """Seconds to keep an answer with this DNS TTL."""
    return min(max(ttl, SHORTEST_TTL), LONGEST_TTL)


def txt(record: Any) -> str:
    return b"".join(record.strings).decode("utf-8", "replace")


# --- Asking ------------------------------------------------------------------------


class Breaker:
    """Notices a resolver that has stopped answering: after TIMEOUTS_IN_A_ROW
    timeouts with no answer between them, DNS is skipped for COOLDOWN seconds,
    then tried again. Said in the log once as it opens and once as it closes."""

    def __init__(self) -> None:
        self.timeouts = 0
        self.open_until = 0.0
        self.lock = threading.Lock()

    def is_open(self, now: float) -> bool:
        return now < self.open_until

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.open_until - now)

    def timed_out(self, now: float) -> None:
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

    def answered(self) -> None:
        if self.timeouts:  # read without the lock: most answers find nothing to do
            with self.lock:
                if self.timeouts >= TIMEOUTS_IN_A_ROW:
                    log.warning("DNS resolver answering again: lookups resumed")
                self.timeouts, self.open_until = 0, 0.0


class Resolver:
    """The worker's resolver (DNS_RESOLVER, else the system's), with a
    record-level cache by TTL (addresses of one network share an AS name) and
    the breaker both DNS sources share."""

    def __init__(self, resolvers: Sequence[tuple[str, int]]):
        self.resolver = dns.resolver.Resolver(configure=not resolvers)
        if resolvers:
            self.resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in resolvers
            ]
        self.resolver.cache = dns.resolver.LRUCache(RECORD_CACHE_SIZE)
        self.breaker = Breaker()

    def records(
        self, name: str | dns.name.Name, rdtype: RdataType, deadline: float
    ) -> tuple[list[Any], float]:
        """The answer's records and TTL; ([], NEGATIVE_TTL) when none exist."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Unavailable
        try:
            answer = self.resolver.resolve(
                name, rdtype, lifetime=remaining, search=False
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            self.breaker.answered()
            return [], NEGATIVE_TTL
        except dns.exception.Timeout as error:
            self.breaker.timed_out(time.monotonic())
            raise Unavailable from error
        except dns.resolver.NoNameservers as error:  # it answered, with a failure
            self.breaker.answered()
            raise Unavailable from error
        self.breaker.answered()
        assert answer.rrset is not None
        return list(answer), answer.rrset.ttl


class DnsSource(Source):
    """What both DNS sources share: the resolver, its breaker and budget."""

    budget = BUDGET

    def __init__(self, resolver: Resolver, timeout: float):
        self.resolver = resolver
        self.timeout = timeout

    @classmethod
    def build(cls, setup: Setup) -> "DnsSource":
        resolver = setup.parts.get("resolver")
        if resolver is None:
            resolver = setup.parts["resolver"] = Resolver(
                setup.settings["DNS_RESOLVER"]
            )
        return cls(resolver, setup.settings["LOOKUP_TIMEOUT"])

    def ready(self, now: float) -> bool:
        return not self.resolver.breaker.is_open(now)

    def retry_after(self, now: float) -> float:
        return self.resolver.breaker.seconds_left(now)


class NetworkSource(DnsSource):
    name = "asn"
    fields = tuple(NetworkFacts.__annotations__)
    empty = dict.fromkeys(fields)
    label = "DNS (network)"

    def ask(self, address: IPAddress, deadline: float) -> Answer:
        records, ttl = self.resolver.records(cymru_origin_name(address), TXT, deadline)
        origin = parse_origin([txt(record) for record in records])
        if origin is None:
            return Answer({}, ttl=ttl_for(ttl))
        asn, prefix = origin
        found: NetworkFacts = {"asn": asn, "prefix": prefix}
        try:
            names, name_ttl = self.resolver.records(
                f"AS{asn}.asn.cymru.com", TXT, deadline
            )
        except Unavailable:  # the network stands without its name
            return Answer(found, ("as_name",))
        found["as_name"] = parse_as_name([txt(record) for record in names])
        return Answer(found, ttl=ttl_for(min(ttl, name_ttl)))

    def origin(self) -> Origin:
        return Origin(
            "Team Cymru IP to ASN", "https://www.team-cymru.com/ip-asn-mapping"
        )


class HostnameSource(DnsSource):
    name = "hostname"
    fields = tuple(HostnameFacts.__annotations__)
    empty = {"hostname": None, "hostname_confirmed": False}
    label = "DNS (hostname)"

    def ask(self, address: IPAddress, deadline: float) -> Answer:
        pointer = dns.reversename.from_address(str(address))
        records, ttl = self.resolver.records(pointer, PTR, deadline)
        if not records:
            return Answer({}, ttl=ttl_for(ttl))
        name = records[0].target
        found: HostnameFacts = {"hostname": name.to_text(omit_final_dot=True)}
        try:
            forward, forward_ttl = self.resolver.records(
                name, A if address.version == 4 else AAAA, deadline
            )
        except Unavailable:  # the name stands, unconfirmed
            return Answer(found, ("hostname_confirmed",))
        found["hostname_confirmed"] = any(
            ipaddress.ip_address(record.address) == address for record in forward
        )
        return Answer(found, ttl=ttl_for(min(ttl, forward_ttl)))

    def origin(self) -> Origin:
        return Origin("Reverse DNS (PTR), confirmed forward")
