"""Rate limits per client, in moving windows: counted in Redis when REDIS_URL is
set (shared by every worker and dyno, one round trip a request), else in each
worker's memory. Two allowances: RATE_LIMIT for every request, and
LOOKUP_RATE_LIMIT besides for looking up addresses other than one's own.

A client is its IPv4 address, or its IPv6 prefix (RATE_LIMIT_IPV6_PREFIX, a /64
by default): every home line has a /64, so counting IPv6 addresses one by one
would give anyone billions of allowances.

Flask-Limiter did this first; measured, it took the site to 0.42x its throughput
counting in the worker and 0.36x in Redis (`make bench`), its per-request
bookkeeping costing as much as the request, and the `limits` storage behind it
sweeps every key every 10 ms. What is left is small: a bounded map of recent
request times here, one Lua script there. The settings are still read in the
`limits` notation.
"""

import bisect
import hashlib
import ipaddress
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from functools import lru_cache
from typing import NamedTuple

from flask import Flask, current_app, request
from werkzeug.exceptions import TooManyRequests

from . import visitor
from .addresses import IPAddress

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
        "pages.lookup",
        "pages.address",
        "pages.address_fact",
    }
)
# Routes that look one up when asked with ?ip= (ifconfig.co's /json?ip=…).
LOOKUP_BY_ARGUMENT = frozenset({"api.report"})
# The longest a request waits for Redis, a free connection to it included,
# before the limit is counted in the worker instead: a slow or dead Redis never
# holds up an answer.
REDIS_TIMEOUT_SECONDS = 0.1
# Connections to Redis per worker. Small plans cap clients (Heroku's mini plan
# at 20): two dynos of two workers take 16. A count takes a fraction of a
# millisecond, so four serve thousands of requests a second.
REDIS_CONNECTIONS = 4
# After Redis fails, how long until it is tried again: doubling up to a cap.
FIRST_RETRY_SECONDS, LAST_RETRY_SECONDS = 1, 32
# A Redis that comes and goes is told in the log at most this often per worker.
LOG_EVERY_SECONDS = 60
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
):
    """From each window's (requests counted, oldest one's time): how many of
    `cost` more may pass (as many as every window has room for), and the
    tightest window's allowance after them. All times on one clock, whichever
    it is."""
    granted, tightest = cost, None
    for window, (count, oldest) in zip(windows, counts, strict=True):
        granted = min(granted, max(window.limit - count, 0))
        # The least room left; of equals, the longest window (the longest wait).
        room = (window.limit - count, -window.seconds)
        if tightest is None or room < tightest[0]:
            tightest = room, window, count, oldest
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


# Redis knows a script by its SHA-1 digest.
SCRIPT_SHA = hashlib.sha1(MOVING_WINDOWS.encode(), usedforsecurity=False).hexdigest()


def redis_options(redis_url: str) -> dict:
    """redis-py settings for the counters' connection pool."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options = {
        "max_connections": REDIS_CONNECTIONS,
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        # redis-py retries three times by default; one bounded try is the budget.
        "retry": Retry(NoBackoff(), 0),
    }
    if redis_url.startswith("rediss://"):
        # Heroku Key-Value Store's TLS certificates are self-signed; Heroku's
        # documentation says to connect without verifying them.
        options["ssl_cert_reqs"] = "none"
    return options


class Busy(Exception):
    """No connection to Redis came free in time: the worker is busy, Redis is not
    down."""


class Call:
    """One count waiting for Redis: queued, then sent in a batch, then answered;
    or promoted to send the next batch itself (its own count may by then have
    gone in another's batch: it is answered when that batch is)."""

    __slots__ = ("keys", "args", "ready", "answered", "reply", "error", "sends")

    def __init__(self, keys: list[str], args: list):
        self.keys, self.args = keys, args
        self.ready = threading.Event()  # answered, or promoted
        self.answered = threading.Event()
        self.reply = self.error = None
        self.sends = False


class RedisStore:
    """The worker's connections to Redis, and whether Redis answers. While it
    does not, it is tried again at growing intervals.

    Counts go out in batches: a request that finds a connection free sends every
    count waiting, pipelined, in one round trip; the others wait, and when a
    batch is answered, the next one waiting sends the next batch. Under gevent a
    connection is held until its greenlet runs again, which under a burst can be
    tens of milliseconds, so a connection per count would run out of connections
    long before Redis or the worker ran out of room."""

    def __init__(self, redis_url: str):
        import redis

        self.errors = (redis.RedisError, OSError)
        self.script_lost = redis.exceptions.NoScriptError
        self.answer_errors = redis.exceptions.ResponseError
        # A pool and its connections, not a client: the client's per-command
        # bookkeeping (retries, metrics hooks, argument checks, the script's own
        # wrapper) cost about a fifth of a count, and none of it applies here.
        self.pool = redis.ConnectionPool.from_url(redis_url, **redis_options(redis_url))
        self.lock = threading.Lock()
        self.waiting: list[Call] = []
        self.free = REDIS_CONNECTIONS  # connections no batch is using
        self.retry_at = 0.0  # while Redis is down: when to try it again
        self.retry_in = FIRST_RETRY_SECONDS
        self.down = False
        self.said_down = False
        self.said_at = {True: -math.inf, False: -math.inf}  # when each was last said
        self.failure = ""

    def usable(self, now: float) -> bool:
        return now >= self.retry_at

    def run_script(self, keys: list[str], args: list):
        """MOVING_WINDOWS's reply for these keys; Busy if no connection came
        free within REDIS_TIMEOUT_SECONDS."""
        call = Call(keys, args)
        with self.lock:
            self.waiting.append(call)
            if self.free:
                self.free -= 1
                call.sends = True
        if not call.sends and not call.ready.wait(REDIS_TIMEOUT_SECONDS):
            with self.lock:
                if not call.sends and call in self.waiting:  # never sent
                    self.waiting.remove(call)
                    raise Busy
        if call.sends:
            self._send_batch()
        # In a batch: the connection's own timeout bounds the wait.
        call.answered.wait()
        if call.error is not None:
            raise call.error
        return call.reply

    def _send_batch(self):
        """Sends every count waiting on one connection, then hands it on: to
        the first in line not yet promoted (two batches ending at once must not
        both promote the same one, or a connection is lost), else back."""
        with self.lock:
            batch, self.waiting = self.waiting, []
        if batch:
            try:
                self._exchange(batch)
            except BaseException as error:
                for call in batch:
                    call.error = error
        for call in batch:
            call.answered.set()
            call.ready.set()
        with self.lock:
            after = next((call for call in self.waiting if not call.sends), None)
            if after is not None:
                after.sends = True
                after.ready.set()
            else:
                self.free += 1

    def _exchange(self, batch: list[Call]):
        """MOVING_WINDOWS for each call by its digest, pipelined; sent whole where
        Redis no longer has it (a restart forgets scripts), which caches it for
        the next batch."""
        connection = self.pool.get_connection()
        try:
            self._pipeline(connection, "EVALSHA", SCRIPT_SHA, batch)
            lost = [call for call in batch if isinstance(call.error, self.script_lost)]
            if lost:
                self._pipeline(connection, "EVAL", MOVING_WINDOWS, lost)
        except BaseException:
            connection.disconnect()  # replies may still arrive: never reuse it
            raise
        finally:
            self.pool.release(connection)

    def _pipeline(self, connection, command: str, script: str, calls: list[Call]):
        connection.send_packed_command(
            connection.pack_commands(
                [(command, script, len(c.keys), *c.keys, *c.args) for c in calls]
            )
        )
        for call in calls:
            try:
                call.reply, call.error = connection.read_response(), None
            except self.answer_errors as error:  # an error of this call's alone
                call.error = error

    def failed(self, error: Exception, now: float):
        if now < self.retry_at:  # another count of the same batch said so
            return
        self.down, self.failure = True, type(error).__name__
        self.retry_at = now + self.retry_in
        self.retry_in = min(self.retry_in * 2, LAST_RETRY_SECONDS)
        self.tell(now)

    def answered(self, now: float):
        if self.down:
            self.down, self.retry_at, self.retry_in = False, 0.0, FIRST_RETRY_SECONDS
        if self.said_down:
            self.tell(now)

    def tell(self, now: float):
        """Logs the state Redis is in if the log says otherwise, each state at
        most once a minute: a Redis that comes and goes is two lines a minute,
        not two a request, and the log catches up with the last change."""
        down = self.down
        if down != self.said_down and now >= self.said_at[down] + LOG_EVERY_SECONDS:
            self.said_down, self.said_at[down] = down, now
            if down:
                log.warning(
                    "Rate limit storage unreachable (%s): counting in each worker "
                    "until it is back",
                    self.failure,
                )
            else:
                log.warning("Rate limit storage recovered: counting in Redis again")


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
        store = self.store
        if store is None or not store.usable(now):
            return self.in_worker.hit(key, now, cost)
        try:
            redis_now, counts = store.run_script(
                [f"{self.name}:{key}:{window.seconds}" for window in self.windows],
                [os.urandom(6).hex(), cost, *self.window_args],
            )
        except Busy:
            return self.in_worker.hit(key, now, cost)
        except store.errors as error:
            store.failed(error, now)
            return self.in_worker.hit(key, now, cost)
        store.answered(now)
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

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        def start_with_allowance(status, headers, exc_info=None):
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


def count_against(limiters, scope: str, cost: int = 1) -> Decision:
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


def init_app(app: Flask) -> None:
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
    store = RedisStore(config["REDIS_URL"]) if config["REDIS_URL"] else None
    everything, lookups = (
        Limiter(name, setting, store) if setting else None
        for name, setting in settings.items()
    )
    if lookups is not None:  # a batch counts its lookups itself (count_lookups)
        app.extensions["lookuplimit"] = lookups
    ipv6_prefix = config["RATE_LIMIT_IPV6_PREFIX"]

    # The hook holds the limiters, worked out once.
    @app.before_request
    def check_allowance():
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

    app.wsgi_app = TellAllowance(app.wsgi_app)
