"""Who runs an address: its network's registration at the regional registry
(ARIN, RIPE NCC, APNIC, LACNIC, AFRINIC), asked over RDAP at the registry
IANA's bootstrap files name for it (RFC 9224): the network's name and range,
the organisation and the abuse contact.

Registries are slow (hundreds of milliseconds) and limit their callers, so
answers are kept by the block they cover (in Redis too, for every dyno), each
worker asks a registry at most a few questions at once, and a registry that
says "too many" is left alone for as long as it asks."""

from collections.abc import Hashable

from ...addresses import IPAddress
from ..base import Answer, Budget, Origin, Setup, Source
from .client import RdapClient, cache_key, cache_keys
from .parse import NO_OWNER, OWNER_FIELDS
from .shared import SharedCache

# A registration changes rarely: kept a day; "none" is kept an hour.
FOUND_TTL, NOT_FOUND_TTL = 86400, 3600
# Questions to the registries in flight at once per worker, for visitors' own
# networks and for others'.
BUDGET = Budget("rdap", own=8, other=4)
# Answers kept per worker (about 1 KB each).
CACHE_SIZE = 2048


class OwnerSource(Source):
    name = "owner"
    fields = OWNER_FIELDS
    empty = NO_OWNER
    label = "RDAP"
    in_address_facts = False
    budget = BUDGET
    cache_size = CACHE_SIZE

    def __init__(self, bootstrap_url: str, timeout: float, shared: SharedCache | None):
        self.client = RdapClient(bootstrap_url)
        self.timeout = timeout
        self.shared = shared
        self.bootstrap_url = bootstrap_url

    @classmethod
    def build(cls, setup: Setup) -> "OwnerSource":
        settings = setup.settings
        return cls(
            settings["RDAP_BOOTSTRAP_URL"],
            settings["RDAP_TIMEOUT"],
            SharedCache(setup.store) if setup.store is not None else None,
        )

    def ask(self, address: IPAddress, deadline: float) -> Answer:
        facts = self.client.ask(address, deadline)
        return Answer(facts, ttl=FOUND_TTL if facts["network"] else NOT_FOUND_TTL)

    def cache_keys(self, address: IPAddress) -> tuple[Hashable, ...]:
        return cache_keys(address)

    def cache_key(self, address: IPAddress, answer: Answer) -> Hashable:
        return cache_key(address, answer.found)

    def origin(self) -> Origin:
        return Origin("Regional registries over RDAP", self.bootstrap_url)
