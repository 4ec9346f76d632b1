"""Rate limits per client, in moving windows: counted in Redis when REDIS_URL is
set (shared by every worker and dyno, one round trip a request), else in each
worker's memory. Two allowances: RATE_LIMIT for every request, and
LOOKUP_RATE_LIMIT besides for looking up addresses other than one's own.

A client is its IPv4 address, or its IPv6 prefix (RATE_LIMIT_IPV6_PREFIX, a /64
by default): every home line has a /64, so counting IPv6 addresses one by one
would give anyone billions of allowances.

Flask-Limiter did this first; its per-request bookkeeping cost as much as the
request (docs/performance.md), and the `limits` storage behind it sweeps every
key on a timer. What is left is small: a bounded map of recent request times
here, one Lua script there (sent by the worker's Redis store). The settings are
still read in the `limits` notation.
"""

import bisect
import ipaddress
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from flask import Flask, current_app, request
from werkzeug.exceptions import TooManyRequests

from ..addresses import IPAddress
from ..infra.redis_store import RedisStore
from . import visitor

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# What a web page may read of an answer from another origin (CORS).
ALLOWANCE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Scope",
    "Retry-After",
)
# Answered whatever the load: uptime checks must not be refused.
UNLIMITED_ENDPOINTS = frozenset({"pages.healthz"})
# Routes that look up an address the client names: LOOKUP_RATE_LIMIT counts them.
LOOKUP_ENDPOINTS = frozenset(
    {
        "api.lookup",
        "api.address_json",
        "api.owner",
        "pages.lookup",
        "pages.address",
        "pages.address_fact",
    }
)
# Routes that look one up when asked with ?ip= (ifconfig.co's /json?ip=…).
LOOKUP_BY_ARGUMENT = frozenset({"api.report"})
# What one worker remembers, the least recently seen clients going first: a
# client costs about 250 bytes and each request time it keeps 32 more.
MAX_CLIENTS = 20_000
MAX_REQUEST_TIMES = 250_000

log = logging.getLogger("whatismyip")

# Where a request's Allowance waits for its answer's headers.
DECISION_KEY = "whatismyip.allowance"


class Window(NamedTuple):
    limit: int
    seconds: int


class Decision(NamedTuple):
    """What a request may do, and what its answer tells the client."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the oldest counted request stops counting
    granted: int = 1  # of the requests asked for at once (a batch's), how many


class Allowance(NamedTuple):
    """A decision and the client it was made for, as the answer's headers say."""

    decision: Decision
    scope: str


@lru_cache(maxsize=4096)
def client_key(address: IPAddress | None, ipv6_prefix: int) -> str:
    """Who is counted: an IPv4 address, or the IPv6 network of `ipv6_prefix` bits
    that holds the address."""
    if address is None:
        return "unknown"
    if address.version == 4:
        return str(address)
    return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))


def parse_windows(text: str) -> list[Window]:
    """ "60/minute;1000/day" as windows (checked at boot by config)."""
    from limits import parse_many

    return [Window(item.amount, item.get_expiry()) for item in parse_many(text)]


def decide(
    windows: list[Window], counts: list[tuple[int, float]], now: float, cost: int = 1
) -> Decision:
    """From each window's (requests counted, oldest one's time): how many of
    `cost` more may pass (as many as every window has room for), and the
    tightest window's allowance after them. All times on one clock, whichever
    it is."""
    granted = cost
    tightest: tuple[tuple[int, int], Window, int, float] | None = None
    for window, (count, oldest) in zip(windows, counts, strict=True):
        granted = min(granted, max(window.limit - count, 0))
        # The least room left; of equals, the longest window (the longest wait).
        room = (window.limit - count, -window.seconds)
        if tightest is None or room < tightest[0]:
            tightest = room, window, count, oldest
    assert tightest is not None, "a limit has at least one window"
    _, window, count, oldest = tightest
    return Decision(
        granted > 0,
        window.limit,
        max(window.limit - count - granted, 0),
        (oldest if count else now) + window.seconds - now,
        granted,
    )


class WorkerCounts:
    """Each client's request times within the longest window, in this worker's
    memory, on its monotonic clock. Bounded: past MAX_CLIENTS clients or
    MAX_REQUEST_TIMES times, the least recently seen clients are forgotten
    (and start afresh), one at a time, so no request walks them all."""

    def __init__(
        self,
        windows: list[Window],
        max_clients: int = MAX_CLIENTS,
        max_times: int = MAX_REQUEST_TIMES,
    ):
        self.windows = windows
        self.longest = max(window.seconds for window in windows)
        self.max_clients, self.max_times = max_clients, max_times
        self.times: OrderedDict[str, list[float]] = OrderedDict()
        self.stored = 0  # request times held, all clients together

    def hit(self, key: str, now: float, cost: int = 1) -> Decision:
        times = self.times.get(key)
        if times is None:
            times = self.times[key] = []
        else:
            self.times.move_to_end(key)
            gone = bisect.bisect_right(times, now - self.longest)
            if gone:
                del times[:gone]
                self.stored -= gone
        counts = []
        for window in self.windows:
            first = bisect.bisect_right(times, now - window.seconds)
            oldest = times[first] if first < len(times) else now
            counts.append((len(times) - first, oldest))
        decision = decide(self.windows, counts, now, cost)
        times.extend([now] * decision.granted)
        self.stored += decision.granted
        while len(self.times) > 1 and (
            len(self.times) > self.max_clients or self.stored > self.max_times
        ):
            self.stored -= len(self.times.popitem(last=False)[1])
        return decision


# One round trip: drop what has left each window, count, and add as many of
# the ARGV[2] requests asked for as every window has room for (decide's rule).
# Redis's own clock, so that every dyno counts alike; a member of its own for
# each request. Each key expires with its window.
MOVING_WINDOWS = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local counts, granted = {}, tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2] or now
  granted = math.min(granted, math.max(limit - count, 0))
  counts[i] = {count, tostring(oldest)}
end
if granted > 0 then
  for i, key in ipairs(KEYS) do
    for n = 1, granted do
      redis.call('ZADD', key, now, now .. ':' .. ARGV[1] .. ':' .. n)
    end
    redis.call('PEXPIRE', key, tonumber(ARGV[2 * i + 2]))
  end
end
return {tostring(now), counts}
"""


class Limiter:
    """One allowance (RATE_LIMIT or LOOKUP_RATE_LIMIT): its windows, counted in
    Redis under `name` when there is a store, else (and while it is down, or
    every connection is busy) in the worker."""

    def __init__(self, name: str, setting: str, store: RedisStore | None):
        self.name = name
        self.setting = setting
        self.windows = parse_windows(setting)
        self.in_worker = WorkerCounts(self.windows)
        self.store = store
        self.window_args = [
            value
            for window in self.windows
            for value in (window.limit, window.seconds * 1000)
        ]

    def hit(self, key: str, now: float, cost: int = 1) -> Decision:
        """Counts `cost` requests (or as many as there is room for) for `key`.
        `now` on the monotonic clock; Redis counts on its own."""
        reply = (
            self.store.call(
                MOVING_WINDOWS,
                [f"{self.name}:{key}:{window.seconds}" for window in self.windows],
                [os.urandom(6).hex(), cost, *self.window_args],
                now,
            )
            if self.store is not None
            else None
        )
        if reply is None:
            return self.in_worker.hit(key, now, cost)
        redis_now, counts = reply
        # The counts before this request, as the script saw them atomically: the
        # same rule then says how many passed.
        return decide(
            self.windows,
            [(int(count), float(oldest) / 1000) for count, oldest in counts],
            float(redis_now) / 1000,
            cost,
        )


def retry_after(decision: Decision) -> int:
    """Whole seconds to wait, never too few."""
    return max(1, math.ceil(decision.reset_after))


def allowance_headers(allowance: Allowance) -> list[tuple[str, str]]:
    decision = allowance.decision
    return [
        ("X-RateLimit-Limit", str(decision.limit)),
        ("X-RateLimit-Remaining", str(decision.remaining)),
        ("X-RateLimit-Reset", str(int(time.time() + decision.reset_after))),
        ("X-RateLimit-Scope", allowance.scope),
    ]


class TellAllowance:
    """WSGI middleware: every limited answer, refusals included, says where the
    client stands. Added as the answer starts, a third of the cost of an
    after_request hook setting each header on Werkzeug's Headers."""

    def __init__(self, app: "WSGIApplication"):
        self.app = app

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        def start_with_allowance(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            allowance = environ.get(DECISION_KEY)
            if allowance is not None:
                headers.extend(allowance_headers(allowance))
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_allowance)


def refusal(limiter: Limiter, scope: str, decision: Decision) -> TooManyRequests:
    what = "lookups of other addresses" if limiter.name == "lookuplimit" else "requests"
    seconds = retry_after(decision)
    return TooManyRequests(
        f"Too many {what} from {scope}: the limit is {limiter.setting}. "
        f"Try again in {seconds} second{'s' if seconds != 1 else ''}.",
        retry_after=seconds,
    )


def count_against(limiters: list[Limiter], scope: str, cost: int = 1) -> Decision:
    """Counts this request against each limiter in turn (the second only if the
    first lets it through), noting for its answer's headers the tighter
    allowance, or the one refusing, which raises the 429. The last decision:
    its `granted` is how many of `cost` lookups passed every limiter."""
    now = time.monotonic()
    environ = request.environ
    shown = environ.get(DECISION_KEY)
    for limiter in limiters:
        decision = limiter.hit(scope, now, cost)
        if shown is None or decision.remaining < shown.decision.remaining:
            shown = Allowance(decision, scope)
        if not decision.allowed:
            environ[DECISION_KEY] = Allowance(decision, scope)
            raise refusal(limiter, scope, decision)
        cost = decision.granted
    environ[DECISION_KEY] = shown
    return decision


def count_lookups(cost: int) -> tuple[int, TooManyRequests | None]:
    """Counts `cost` lookups of other addresses (a batch's) against
    LOOKUP_RATE_LIMIT: how many it has room for (all, without that limit), and
    what to tell the rest; a 429 when it has room for none."""
    limiter = current_app.extensions.get("lookuplimit")
    if limiter is None or cost == 0:
        return cost, None
    scope = client_key(visitor.address(), current_app.config["RATE_LIMIT_IPV6_PREFIX"])
    decision = count_against([limiter], scope, cost)
    if decision.granted == cost:
        return cost, None
    return decision.granted, refusal(limiter, scope, decision)


def is_lookup(endpoint: str | None) -> bool:
    """Does this request look up an address the client names?"""
    return endpoint in LOOKUP_ENDPOINTS or (
        endpoint in LOOKUP_BY_ARGUMENT and visitor.asked_ip() is not None
    )


def init_app(app: Flask, store: RedisStore | None) -> None:
    """RATE_LIMIT limits every request but /healthz's and CORS preflights
    (static files never reach the app), unknown paths included;
    LOOKUP_RATE_LIMIT limits lookups of other addresses besides. The windows
    move, so no burst at a window's edge passes twice the limit."""
    config = app.config
    settings = {
        "ratelimit": config["RATE_LIMIT"],
        "lookuplimit": config["LOOKUP_RATE_LIMIT"],
    }
    if not any(settings.values()):
        return
    everything, lookups = (
        Limiter(name, setting, store) if setting else None
        for name, setting in settings.items()
    )
    if lookups is not None:  # a batch counts its lookups itself (count_lookups)
        app.extensions["lookuplimit"] = lookups
    ipv6_prefix = config["RATE_LIMIT_IPV6_PREFIX"]

    # The hook holds the limiters, worked out once.
    @app.before_request
    def check_allowance() -> None:
        """Before each limited request: counted against the address the site
        already trusts, so writing X-Forwarded-For buys no new allowance."""
        endpoint = request.endpoint
        if endpoint in UNLIMITED_ENDPOINTS or request.method == "OPTIONS":
            return
        applying = [
            limiter
            for limiter in (everything, lookups if is_lookup(endpoint) else None)
            if limiter is not None
        ]
        if applying:
            count_against(applying, client_key(visitor.address(), ipv6_prefix))

    app.wsgi_app = TellAllowance(app.wsgi_app)  # type: ignore[method-assign]
