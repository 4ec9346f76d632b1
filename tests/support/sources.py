"""The real sources built outside an app, as a worker builds them, for tests
that drive the engine directly; and in-memory fake sources through the same
`Source` shape, for the test-client tests, which then need no daemon."""

from collections.abc import Hashable, Mapping
from typing import Any

from whatismyip.addresses import IPAddress
from whatismyip.config import (
    parse_lookups,
    parse_resolvers,
    settings_from_environment,
)
from whatismyip.report import Reporter, build_reporter
from whatismyip.sources import SOURCES
from whatismyip.sources.base import Answer, Budget, Source
from whatismyip.sources.dns import HostnameSource, NetworkSource


def reporter(
    lookups: str | None,
    resolver: str,
    timeout: float,
    cache_size: int | None = None,
    **settings: Any,
) -> Reporter:
    """The reporter a worker builds with LOOKUPS=`lookups`, asking `resolver`;
    each source's cache holds `cache_size` answers where given."""
    built = build_reporter(
        {
            **settings_from_environment({}),
            "LOOKUPS": parse_lookups(lookups),
            "DNS_RESOLVER": parse_resolvers(resolver),
            "LOOKUP_TIMEOUT": timeout,
            **settings,
        },
        None,
    )
    if cache_size is not None:
        for cache in built.engine.caches.values():
            cache.size = cache_size
    return built


def kept(reporter: Reporter) -> dict[tuple[str, Hashable], float]:
    """(source, key) of every answer kept, and when it expires."""
    return {
        (name, key): expires
        for name, cache in reporter.engine.caches.items()
        for key, (expires, _) in cache.entries.items()
    }


# The fields the two DNS sources answer.
DNS_FIELDS = [*NetworkSource.fields, *HostnameSource.fields]


def breaker(reporter: Reporter):
    """The DNS sources' breaker."""
    return reporter.engine.sources["asn"].resolver.breaker


# What the fake sources know: a few addresses, as the stand-ins answer them.
FAKE_FACTS: Mapping[str, Mapping[str, Mapping[str, Any]]] = {
    "8.8.8.8": {
        "country": {"country": "US", "country_name": "United States"},
        "asn": {"asn": 15169, "as_name": "GOOGLE - Google LLC", "prefix": "8.8.8.0/24"},
        "hostname": {"hostname": "dns.google", "hostname_confirmed": True},
        "location": {
            "city": "Mountain View",
            "region": "California",
            "geo_country": "US",
            "latitude": 37.4,
            "longitude": -122.1,
            "time_zone": "America/Los_Angeles",
        },
    },
    "1.1.1.1": {
        "country": {"country": "AU", "country_name": "Australia"},
        "asn": {"asn": 13335, "as_name": "CLOUDFLARENET", "prefix": "1.1.1.0/24"},
        "hostname": {"hostname": "claims-to-be.example", "hostname_confirmed": False},
    },
    "2001:4860:4860::8888": {
        "country": {"country": "US", "country_name": "United States"},
        "asn": {"asn": 15169, "as_name": "GOOGLE", "prefix": "2001:4860::/32"},
        "hostname": {"hostname": "dns.google", "hostname_confirmed": True},
    },
}


class FakeSource(Source):
    """A source answering from FAKE_FACTS (empty for any other address), asked
    like any other, through the engine."""

    budget = Budget("fake", own=4, other=4)
    label = "Fake"

    def ask(self, address: IPAddress, deadline: float) -> Answer:
        found = FAKE_FACTS.get(str(address), {}).get(self.name, {})
        return Answer(found, ttl=60)


def fake_sources(names=None) -> list[Source]:
    """A fake of each registered source (of `names`, if given): the same name,
    fields and empty answer, and instant where the real one is."""
    return [
        type(
            f"Fake{source.__name__}",
            (FakeSource,),
            {
                "name": source.name,
                "fields": source.fields,
                "empty": source.empty,
                "instant": source.instant,
                "in_address_facts": source.in_address_facts,
            },
        )()
        for source in SOURCES
        if names is None or source.name in names
    ]
