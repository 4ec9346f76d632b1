"""Asking a registry over RDAP (RFC 9083, JSON over HTTPS) about one address,
politely: at most a few questions to each registry at once, none while it has
asked to be left alone, redirects only to the registries the bootstrap lists,
and a bounded answer read before the deadline."""

import ipaddress
import logging
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from ...addresses import IPAddress
from ...infra import http
from ..base import Unavailable
from ..engine import Upstream
from .bootstrap import Bootstrap, registry_base
from .parse import IP_NETWORK, NO_OWNER, OwnerFacts, owner_facts

# The most an answer may hold: the largest real ones (a network with many
# contacts and remarks) are tens of kilobytes.
MAX_ANSWER_BYTES = 1024 * 1024
# A block moved between registries is answered by a redirect; more than a few
# in a row is a loop.
MAX_REDIRECTS = 3
# Questions to one registry in flight at once per worker: more wait for a
# place up to their deadline. LACNIC answers about 10 a minute.
PER_REGISTRY = 2
# What a registry's Retry-After may ask of us at most, and what a 429 without
# one is taken to ask.
LONGEST_PAUSE, DEFAULT_PAUSE = 3600, 60
# One answer serves its asker's whole block, the smallest routed on the
# internet, and never the rest of a larger range: a registry registers smaller
# networks inside larger ones (ARIN's 8.0.0.0/9 holds Google's 8.8.8.0/24).
# A network smaller than the block serves only the address asked (an IPv6
# one's /64, which one home line holds).
BLOCK_BITS = {4: 24, 6: 48}
SMALLEST_BITS = {4: 32, 6: 64}
USER_AGENT = "whatismyip (RDAP client)"

log = logging.getLogger("whatismyip")


def rdap_url(base: str, address: IPAddress) -> str:
    return f"{base.rstrip('/')}/ip/{address}"


def block_of(
    address: IPAddress, bits: dict[int, int]
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network((address, bits[address.version]), strict=False)


def cache_keys(address: IPAddress) -> tuple[str, str]:
    """Where an answer for `address` may be kept: its block's, else its own."""
    return str(block_of(address, BLOCK_BITS)), str(block_of(address, SMALLEST_BITS))


def cache_key(address: IPAddress, facts: Mapping[str, Any]) -> str:
    """Where the answer found for `address` is kept: under its block when the
    registered range covers the whole block (or nothing was found), else
    under the address alone."""
    block_key, own_key = cache_keys(address)
    span = (facts["network"] or {}).get("range")
    if span is None:
        return block_key
    start, end = ipaddress.ip_address(span[0]), ipaddress.ip_address(span[1])
    if start.version != address.version:
        raise ValueError("the registered range is of the other address family")
    block = block_of(address, BLOCK_BITS)
    covers = int(start) <= int(block[0]) and int(block[-1]) <= int(end)
    return block_key if covers else own_key


def pause_seconds(retry_after: str | None, now: float) -> float:
    """How long a registry's 429 asks us to wait: Retry-After in seconds or as
    an HTTP date, within bounds; a minute if it says nothing usable."""
    if retry_after:
        text = retry_after.strip()
        if text.isascii() and text.isdigit():
            return min(max(int(text), 1), LONGEST_PAUSE)
        try:
            when = parsedate_to_datetime(text).timestamp()
        except (TypeError, ValueError):
            return DEFAULT_PAUSE
        return min(max(when - now, 1), LONGEST_PAUSE)
    return DEFAULT_PAUSE


class RdapClient:
    """One per worker: an HTTP session to the registries, IANA's bootstrap
    table, and each registry's upstream state."""

    def __init__(self, bootstrap_url: str):
        self.session = http.session(USER_AGENT, "application/rdap+json")
        self.bootstrap = Bootstrap(self.session, bootstrap_url)
        # One per registry the bootstrap names: a handful.
        self.registries: dict[str, Upstream] = {}

    def ask(self, address: IPAddress, deadline: float) -> OwnerFacts:
        table = self.bootstrap.table(address.version, deadline)
        if table is None:
            raise Unavailable
        base = registry_base(table, address)
        if base is None:  # IANA lists no registry for it
            return NO_OWNER
        registry = self.registries.get(base) or self.registries.setdefault(
            base, Upstream(PER_REGISTRY)
        )
        if registry.paused(time.monotonic()) or not registry.enter(deadline):
            raise Unavailable
        try:
            reply = http.get(
                self.session,
                rdap_url(base, address),
                deadline,
                MAX_ANSWER_BYTES,
                self.may_follow,
                MAX_REDIRECTS,
            )
        except http.Failed:
            raise Unavailable from None
        finally:
            registry.leave()
        if reply.status == 429:
            pause = pause_seconds(reply.retry_after, time.time())
            registry.pause(pause, time.monotonic())
            log.warning("RDAP %s answered 429: not asked for %d s", base, pause)
            raise Unavailable
        if reply.status == 404:  # the registry holds no network for it
            return {**NO_OWNER, "source": reply.url}
        if reply.status != 200:
            raise Unavailable
        try:
            answer = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            raise Unavailable from None
        if not isinstance(answer, dict) or answer.get("objectClassName") != IP_NETWORK:
            raise Unavailable
        return owner_facts(answer, reply.url)

    def may_follow(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme == "https" and parts.netloc in self.bootstrap.hosts()
