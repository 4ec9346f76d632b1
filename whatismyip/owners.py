"""Who runs an address: its network's registration at the regional registry
(ARIN, RIPE NCC, APNIC, LACNIC, AFRINIC), asked over RDAP (RFC 9083, JSON over
HTTPS) at the registry IANA's bootstrap files name for it (RFC 9224): the
network's name and range, the organisation and the abuse contact.

Registries are slow (hundreds of milliseconds) and limit their callers, so
answers are kept by the block they cover, each worker asks a registry at most
a few questions at once, and a registry that says "too many" is left alone for
as long as it asks."""

import ipaddress
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import orjson
from flask import Flask, abort, current_app

from .addresses import IPAddress, address_scope
from .report import format_ip

OWNER_FIELDS = (
    "registry",
    "network",
    "organization",
    "abuse",
    "registered",
    "updated",
    "source",
)
# An address nobody is asked about (not public), or one no registry holds.
NO_OWNER = {**dict.fromkeys(OWNER_FIELDS), "unavailable": []}
UNAVAILABLE = {**dict.fromkeys(OWNER_FIELDS), "unavailable": ["owner"]}
# A registry names itself in its answer by its WHOIS server (port43), so that a
# mirror or a stand-in is named for the registry it answers as.
REGISTRIES = {
    "whois.arin.net": "ARIN",
    "whois.ripe.net": "RIPE NCC",
    "whois.apnic.net": "APNIC",
    "whois.lacnic.net": "LACNIC",
    "whois.afrinic.net": "AFRINIC",
}
# What an answer about an address must say it is (RFC 9083, 5.4).
IP_NETWORK = "ip network"
# The most an answer may hold: the largest real ones (a network with many
# contacts and remarks) are tens of kilobytes.
MAX_ANSWER_BYTES = 1024 * 1024
# A block moved between registries is answered by a redirect; more than a few
# in a row is a loop.
MAX_REDIRECTS = 3
# IANA's bootstrap files change a few times a year: kept a day, and while they
# cannot be fetched, the last copy is used and a new one tried every minute.
BOOTSTRAP_KEEP, BOOTSTRAP_RETRY = 86400, 60
# A registration changes rarely: kept a day; "none" is kept an hour.
FOUND_KEEP, NOT_FOUND_KEEP = 86400, 3600
# One answer serves its asker's whole block, the smallest routed on the
# internet, and never the rest of a larger range: a registry registers smaller
# networks inside larger ones (ARIN's 8.0.0.0/9 holds Google's 8.8.8.0/24).
# A network smaller than the block serves only the address asked (an IPv6
# one's /64, which one home line holds).
BLOCK_BITS = {4: 24, 6: 48}
SMALLEST_BITS = {4: 32, 6: 64}
# Answers kept per worker (about 1 KB each).
CACHE_SIZE = 2048
# Questions to one registry in flight at once per worker, and in all: more wait
# for room up to the time limit. LACNIC answers about 10 a minute.
PER_REGISTRY, QUESTIONS = 2, 8
# What a registry's Retry-After may ask of us at most, and what a 429 without
# one is taken to ask.
LONGEST_PAUSE, DEFAULT_PAUSE = 3600, 60
# Text from a registry is cut to this length before anyone sees it.
MAX_TEXT = 200
# Entities nest (a registrant's contacts); the walk for the abuse contact stops
# this deep, and after this many.
MAX_DEPTH, MAX_ENTITIES = 4, 200
USER_AGENT = "whatismyip (RDAP client)"
# Answers kept in Redis for every dyno, the oldest dropped first: about 600
# bytes each, so a few megabytes of a small plan's 25 MB, whoever asks.
SHARED_ANSWERS = 10_000
# What a worker keeps of an answer it found in Redis (which may be old).
SHARED_KEEP = 3600
# Redis keys: the answers, and their index by age. Versioned with the fields.
KEY_PREFIX, INDEX_KEY = "owner1:", "owner1-index"
READ_ANSWERS = "return redis.call('MGET', unpack(KEYS))"
# Keeps an answer for ARGV[2] seconds, then drops the oldest past ARGV[3].
KEEP_ANSWER = """
local now = redis.call('TIME')
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(now[1]) * 1e6 + tonumber(now[2]), KEYS[1])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if extra > 0 then
  redis.call('DEL', unpack(redis.call('ZRANGE', KEYS[2], 0, extra - 1)))
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
end
return extra
"""

log = logging.getLogger("whatismyip")


class Unanswered(Exception):
    """The registry could not be asked, refused, or did not answer in time."""


# --- Pure functions ----------------------------------------------------------------


def parse_bootstrap(document) -> list[tuple[ipaddress._BaseNetwork, str]]:
    """(network, base URL) from an RFC 9224 bootstrap file: each service is a
    list of prefixes and a list of base URLs, of which an https one is used."""
    table = []
    services = document.get("services") if isinstance(document, dict) else None
    for service in services if isinstance(services, list) else []:
        if not (isinstance(service, list) and len(service) == 2):
            continue
        prefixes, urls = service
        if not (isinstance(prefixes, list) and isinstance(urls, list)):
            continue
        urls = [url for url in urls if isinstance(url, str)]
        base = next((url for url in urls if url.startswith("https://")), None) or next(
            (url for url in urls if url.startswith("http://")), None
        )
        if base is None:
            continue
        for prefix in prefixes:
            try:
                table.append((ipaddress.ip_network(str(prefix)), base))
            except ValueError:
                continue
    return table


def registry_base(table, address: IPAddress) -> str | None:
    """The base URL of the registry holding `address`: the longest prefix."""
    best = None
    for network, base in table:
        if address in network and (best is None or network.prefixlen > best[0]):
            best = (network.prefixlen, base)
    return best[1] if best else None


def rdap_url(base: str, address: IPAddress) -> str:
    return f"{base.rstrip('/')}/ip/{address}"


def clean_text(value) -> str | None:
    """A registry's string, fit to show: control characters dropped, spaces
    squeezed, cut short; None for anything else or nothing."""
    if not isinstance(value, str):
        return None
    text = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", value).split())[:MAX_TEXT]
    return text or None


# An address a mailto: link can carry as it is: no spaces, quotes or query.
EMAIL = re.compile(r"[^\s@<>\"'?&#/\\,;:()\[\]]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}")


def vcard(entity: dict) -> dict:
    """The first `fn`, `email` and `tel` of an entity's jCard (RFC 7095):
    ["vcard", [["fn", {}, "text", "Google LLC"], ...]]."""
    card = entity.get("vcardArray")
    found = {}
    if not (isinstance(card, list) and len(card) == 2 and isinstance(card[1], list)):
        return found
    for prop in card[1]:
        if not (isinstance(prop, list) and len(prop) >= 4):
            continue
        name, value = prop[0], clean_text(prop[3])
        if name in ("fn", "email", "tel") and value and name not in found:
            if name == "tel":
                value = value.removeprefix("tel:")
            if name == "email" and not EMAIL.fullmatch(value):
                continue
            found[name] = value
    return found


def dicts_in(value) -> list[dict]:
    """The objects in what should be a JSON array of them, whatever it is."""
    return (
        [item for item in value if isinstance(item, dict)]
        if isinstance(value, list)
        else []
    )


def entities_by_depth(answer: dict):
    """Every entity of an answer, the top ones first, then theirs (ARIN puts the
    abuse contact inside the registrant), to a bounded depth and number."""
    level = dicts_in(answer.get("entities"))
    seen = 0
    for _ in range(MAX_DEPTH):
        deeper = []
        for entity in level:
            seen += 1
            if seen > MAX_ENTITIES:
                return
            yield entity
            deeper += dicts_in(entity.get("entities"))
        level = deeper


def with_role(answer: dict, role: str):
    for entity in entities_by_depth(answer):
        roles = entity.get("roles")
        if isinstance(roles, list) and role in roles:
            yield entity


def abuse_contact(answer: dict) -> dict | None:
    """The e-mail and phone of the nearest entity with the abuse role that has
    either (RIPE strips the e-mail addresses of other contacts, never this)."""
    for entity in with_role(answer, "abuse"):
        card = vcard(entity)
        if "email" in card or "tel" in card:
            return {"email": card.get("email"), "phone": card.get("tel")}
    return None


def event_date(answer: dict, action: str) -> str | None:
    """The date of an event ("registration", "last changed") as the registry
    wrote it, if it is an ISO 8601 date."""
    for event in dicts_in(answer.get("events")):
        if event.get("eventAction") == action:
            date = clean_text(event.get("eventDate"))
            try:
                datetime.fromisoformat(date or "")
            except ValueError:
                return None
            return date
    return None


def network_range(answer: dict):
    """The registered range's first and last addresses, or None."""
    try:  # as text: the ipaddress module would take a number too
        start = ipaddress.ip_address(str(answer.get("startAddress")))
        end = ipaddress.ip_address(str(answer.get("endAddress")))
    except ValueError:
        return None
    if start.version != end.version or start > end:
        return None
    return start, end


def owner_facts(answer: dict, source: str) -> dict:
    """An RDAP "ip network" answer as the owner fields."""
    span = network_range(answer)
    network = {
        "name": clean_text(answer.get("name")),
        "handle": clean_text(answer.get("handle")),
        "range": [str(span[0]), str(span[1])] if span else None,
        "cidr": [str(n) for n in ipaddress.summarize_address_range(*span)][:32]
        if span
        else None,
        "country": clean_text(answer.get("country")),
    }
    registrant = next(with_role(answer, "registrant"), None)
    port43 = answer.get("port43")
    return {
        "registry": REGISTRIES.get(port43.lower()) if isinstance(port43, str) else None,
        "network": network,
        "organization": vcard(registrant).get("fn") if registrant else None,
        "abuse": abuse_contact(answer),
        "registered": event_date(answer, "registration"),
        "updated": event_date(answer, "last changed"),
        "source": source,
        "unavailable": [],
    }


def block_of(address: IPAddress, bits: dict) -> ipaddress._BaseNetwork:
    return ipaddress.ip_network((address, bits[address.version]), strict=False)


def cache_keys(address: IPAddress) -> tuple[str, str]:
    """Where an answer for `address` may be kept: its block's, else its own."""
    return str(block_of(address, BLOCK_BITS)), str(block_of(address, SMALLEST_BITS))


def cache_key(address: IPAddress, facts: dict) -> str:
    """Where the answer found for `address` is kept: under its block when the
    registered range covers the whole block (or nothing was found), else
    under the address alone."""
    block_key, own_key = cache_keys(address)
    span = (facts["network"] or {}).get("range")
    if span is None:
        return block_key
    block = block_of(address, BLOCK_BITS)
    covers = ipaddress.ip_address(span[0]) <= block[0] and block[-1] <= (
        ipaddress.ip_address(span[1])
    )
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


# --- Keeping -----------------------------------------------------------------------


class SharedCache:
    """Answers kept in Redis, for every worker and dyno: the registries limit
    each caller, and every dyno asking anew would spend that allowance many
    times. Redis down or slow, each worker does without."""

    def __init__(self, store):
        self.store = store

    def get(self, keys) -> tuple[str | None, dict | None]:
        """The first of `keys` Redis holds an answer for, and that answer."""
        names = [KEY_PREFIX + key for key in keys]
        values = self.store.call(READ_ANSWERS, names, [], time.monotonic())
        for key, value in zip(keys, values or (), strict=False):
            try:
                facts = orjson.loads(value) if value is not None else None
            except orjson.JSONDecodeError:
                continue
            if isinstance(facts, dict) and facts.keys() == NO_OWNER.keys():
                return key, facts
        return None, None

    def put(self, key: str, facts: dict, seconds: float):
        self.store.call(
            KEEP_ANSWER,
            [KEY_PREFIX + key, INDEX_KEY],
            [orjson.dumps(facts), int(seconds), SHARED_ANSWERS],
            time.monotonic(),
        )


# --- Asking ------------------------------------------------------------------------


class Registry:
    """What a worker knows of one registry: the room it gives this worker's
    questions, and until when it asked to be left alone."""

    def __init__(self):
        self.room = threading.BoundedSemaphore(PER_REGISTRY)
        self.paused_until = 0.0


class Owners:
    """One per worker: an HTTP session to the registries (requests; cooperative
    under gevent), IANA's bootstrap table, the registries' states, a bounded
    cache of answers by block, optionally shared through Redis, and the
    questions in flight, which later askers of the same address join."""

    def __init__(self, bootstrap_url: str, timeout: float, shared=None):
        import requests

        self.requests = requests
        self.bootstrap_url = bootstrap_url
        self.timeout = timeout
        self.shared = shared  # a SharedCache, or None
        self.session = requests.Session()
        self.session.headers.update(
            {"Accept": "application/rdap+json", "User-Agent": USER_AGENT}
        )
        self.pool = ThreadPoolExecutor(max_workers=QUESTIONS, thread_name_prefix="rdap")
        self.room = threading.BoundedSemaphore(QUESTIONS)
        self.registries: dict[str, Registry] = {}
        self.table: dict[int, list] = {}  # IP version -> bootstrap table
        self.table_expires = {4: 0.0, 6: 0.0}
        self.table_lock = threading.Lock()
        self.cache: OrderedDict = OrderedDict()  # key -> (expires, facts)
        self.asking_now: dict = {}  # key -> Future
        self.lock = threading.Lock()

    def owner(self, address: IPAddress | None) -> dict:
        """The owner fields for `address`, from the cache or its registry
        within the time limit; nulls and `unavailable` when that fails, and
        nulls alone for a private or reserved address, or none."""
        return self.asking(address)()

    def asking(self, address: IPAddress | None) -> Callable[[], dict]:
        """owner(), started: a function that waits for its answer, so that a
        caller may do other work meanwhile."""
        if address_scope(address) != "public":
            return lambda: NO_OWNER
        keys = cache_keys(address)
        found = self._cached(keys)
        if found is not None:
            return lambda: found
        deadline = time.monotonic() + self.timeout
        with self.lock:
            question = self.asking_now.get(keys[1])
            if question is None:
                if not self.room.acquire(blocking=False):
                    return lambda: UNAVAILABLE
                question = self.asking_now[keys[1]] = self.pool.submit(
                    self._answer, address, keys[1], deadline
                )

        def answer() -> dict:
            try:
                return question.result(timeout=max(0.0, deadline - time.monotonic()))
            except (FutureTimeout, Unanswered):
                return UNAVAILABLE

        return answer

    def _cached(self, keys) -> dict | None:
        now = time.monotonic()
        with self.lock:
            for key in keys:
                kept = self.cache.get(key)
                if kept is not None:
                    if kept[0] > now:
                        self.cache.move_to_end(key)
                        return kept[1]
                    del self.cache[key]
        if self.shared is not None:
            key, facts = self.shared.get(keys)
            if facts is not None:
                self._keep(key, facts, SHARED_KEEP, share=False)
                return facts
        return None

    def _keep(self, key: str, facts: dict, seconds: float, share: bool = True):
        with self.lock:
            self.cache[key] = (time.monotonic() + seconds, facts)
            self.cache.move_to_end(key)
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)
        if share and self.shared is not None:
            self.shared.put(key, facts, seconds)

    def _answer(self, address: IPAddress, asking_key: str, deadline: float) -> dict:
        try:
            try:
                facts = self._ask(address, deadline)
            except Unanswered:
                raise
            except Exception as error:  # what a registry sent that no one foresaw
                log.warning(
                    "RDAP answer about %s could not be read (%s)",
                    address,
                    type(error).__name__,
                )
                raise Unanswered from None
            key = cache_key(address, facts)
            self._keep(key, facts, FOUND_KEEP if facts["network"] else NOT_FOUND_KEEP)
            return facts
        finally:
            self.room.release()
            with self.lock:
                self.asking_now.pop(asking_key, None)

    def _ask(self, address: IPAddress, deadline: float) -> dict:
        base = registry_base(self._table(address.version, deadline), address)
        if base is None:  # IANA lists no registry for it
            return NO_OWNER
        url = rdap_url(base, address)
        registry = self.registries.get(base) or self.registries.setdefault(
            base, Registry()
        )
        if time.monotonic() < registry.paused_until:
            raise Unanswered
        if not registry.room.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise Unanswered
        try:
            status, final_url, body, retry_after = self._get(url, deadline)
        finally:
            registry.room.release()
        if status == 429:
            pause = pause_seconds(retry_after, time.time())
            registry.paused_until = time.monotonic() + pause
            log.warning("RDAP %s answered 429: not asked for %d s", base, pause)
            raise Unanswered
        if status == 404:  # the registry holds no network for it
            return {**NO_OWNER, "source": final_url}
        if status != 200:
            raise Unanswered
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise Unanswered from None
        if not isinstance(answer, dict) or answer.get("objectClassName") != IP_NETWORK:
            raise Unanswered
        return owner_facts(answer, final_url)

    def _table(self, version: int, deadline: float) -> list:
        """The bootstrap table for this IP version, fetched when first needed
        and again a day later (a minute, after a failure)."""
        if time.monotonic() >= self.table_expires[version]:
            self._fetch_table(version, deadline)
        table = self.table.get(version)
        if table is None:
            raise Unanswered
        return table

    def _fetch_table(self, version: int, deadline: float):
        """One thread fetches; the others wait for it, up to their deadline."""
        if not self.table_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return
        try:
            if time.monotonic() < self.table_expires[version]:  # fetched meanwhile
                return
            url = urljoin(self.bootstrap_url, f"ipv{version}.json")
            try:
                status, _, body, _ = self._get(url, deadline, bootstrap=True)
                table = parse_bootstrap(orjson.loads(body)) if status == 200 else []
            except (Unanswered, orjson.JSONDecodeError):
                table = []
            if table:
                self.table[version] = table
                self.table_expires[version] = time.monotonic() + BOOTSTRAP_KEEP
            else:
                log.warning("RDAP bootstrap %s could not be read", url)
                self.table_expires[version] = time.monotonic() + BOOTSTRAP_RETRY
        finally:
            self.table_lock.release()

    def _get(self, url: str, deadline: float, bootstrap: bool = False):
        """(status, final URL, body, Retry-After) of a GET, redirects followed
        only to https on a registry the bootstrap lists, at most
        MAX_ANSWER_BYTES read, all before the deadline."""
        requests = self.requests
        for _ in range(MAX_REDIRECTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unanswered
            try:
                response = self.session.get(
                    url, timeout=remaining, allow_redirects=False, stream=True
                )
            except requests.RequestException:
                raise Unanswered from None
            with response:
                location = response.headers.get("Location")
                if response.is_redirect and location and not bootstrap:
                    url = urljoin(url, location)
                    if not self._may_follow(url):
                        raise Unanswered
                    continue
                if response.status_code != 200:
                    return (
                        response.status_code,
                        url,
                        b"",
                        response.headers.get("Retry-After"),
                    )
                return 200, url, self._read(response, deadline), None
        raise Unanswered

    def _may_follow(self, url: str) -> bool:
        parts = urlsplit(url)
        hosts = {
            urlsplit(base).netloc for table in self.table.values() for _, base in table
        }
        return parts.scheme == "https" and parts.netloc in hosts

    def _read(self, response, deadline: float) -> bytes:
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > MAX_ANSWER_BYTES:
            raise Unanswered
        body = bytearray()
        try:
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_ANSWER_BYTES or time.monotonic() > deadline:
                    raise Unanswered
        except self.requests.RequestException:
            raise Unanswered from None
        return bytes(body)


def init_app(app: Flask) -> None:
    """Built with the app, so in the worker that serves it: its session's
    connections and its pool are that worker's own."""
    config = app.config
    if "owner" in config["LOOKUPS"]:
        app.extensions["owners"] = Owners(
            config["RDAP_BOOTSTRAP_URL"],
            config["RDAP_TIMEOUT"],
            SharedCache(app.extensions["redis"]) if "redis" in app.extensions else None,
        )


def owner_asked(address: IPAddress) -> Callable[[], dict] | None:
    """Who runs `address`, asked now: a function that waits for the answer;
    None where this site does not look it up."""
    owners = current_app.extensions.get("owners")
    return owners.asking(address) if owners else None


def owner_of(address: IPAddress | None) -> dict:
    """Who runs `address`, as /api/owner answers; a 404 when this site does
    not look it up."""
    owners = current_app.extensions.get("owners")
    if owners is None:
        abort(404, "This site does not look up who runs an address (LOOKUPS).")
    return {"ip": format_ip(address), **owners.owner(address)}
