"""Rate limits per client address, in moving windows: counted in Redis when
REDIS_URL is set (shared by every worker and dyno, one round trip a request),
else in each worker's memory.

Flask-Limiter did this first; measured, it took the site to 0.42x its throughput
counting in the worker and 0.36x in Redis (`make bench`), its per-request
bookkeeping costing as much as the request, and the `limits` storage behind it
sweeps every key every 10 ms. What is left is small: a deque per address here,
one Lua script there. RATE_LIMIT is still read in the `limits` notation.
"""

import hashlib
import logging
import os
import time
from collections import deque
from typing import NamedTuple

from flask import Flask, request
from werkzeug.exceptions import TooManyRequests

from . import visitor

# What a web page may read of an answer from another origin (CORS).
ALLOWANCE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
)
# Answered whatever the load: uptime checks must not be refused.
UNLIMITED_ENDPOINTS = frozenset({"pages.healthz"})
# The longest a request waits for Redis before the limit is counted in the
# worker instead, so a slow or dead Redis never holds up an answer.
REDIS_TIMEOUT_SECONDS = 0.1
# After Redis fails, how long until it is tried again: doubling up to a cap.
FIRST_RETRY_SECONDS, LAST_RETRY_SECONDS = 1, 32

log = logging.getLogger("whatismyip")

# Where a request's Decision waits for its answer's headers.
DECISION_KEY = "whatismyip.allowance"


class Window(NamedTuple):
    limit: int
    seconds: int


class Decision(NamedTuple):
    """What a request may do, and what its answer tells the client."""

    allowed: bool
    limit: int
    remaining: int
    reset: float  # Unix time at which the oldest counted request stops counting


def parse_windows(text: str) -> list[Window]:
    """ "60/minute;1000/day" as windows (RATE_LIMIT, checked at boot)."""
    from limits import parse_many

    return [Window(item.amount, item.get_expiry()) for item in parse_many(text)]


def decide(windows: list[Window], counts: list[tuple[int, float]], now: float):
    """From each window's (requests counted, oldest one's time): whether one more
    may pass, and the tightest window's allowance after it."""
    allowed, tightest = True, None
    for window, (count, oldest) in zip(windows, counts, strict=True):
        if count >= window.limit:
            allowed = False
        # The least room left; of equals, the longest window (the longest wait).
        room = (window.limit - count, -window.seconds)
        if tightest is None or room < tightest[0]:
            tightest = room, window, count, oldest
    _, window, count, oldest = tightest
    counted = count + 1 if allowed else count
    return Decision(
        allowed,
        window.limit,
        max(window.limit - counted, 0),
        (oldest if count else now) + window.seconds,
    )


class WorkerCounts:
    """Each address's recent request times, in this worker's memory. Entries
    leave their deque once out of the window; an address with none left is
    dropped when next seen, or by the occasional sweep."""

    SWEEP_EVERY = 10_000  # requests

    def __init__(self, windows: list[Window]):
        self.windows = windows
        self.times: dict[str, list[deque]] = {}
        self.until_sweep = self.SWEEP_EVERY

    def hit(self, key: str, now: float) -> Decision:
        queues = self.times.get(key)
        if queues is None:
            queues = self.times[key] = [deque() for _ in self.windows]
        counts = []
        for window, queue in zip(self.windows, queues, strict=True):
            while queue and queue[0] <= now - window.seconds:
                queue.popleft()
            counts.append((len(queue), queue[0] if queue else now))
        decision = decide(self.windows, counts, now)
        if decision.allowed:
            for queue in queues:
                queue.append(now)
        self._sweep(now)
        return decision

    def _sweep(self, now: float):
        self.until_sweep -= 1
        if self.until_sweep:
            return
        self.until_sweep = self.SWEEP_EVERY
        longest = max(window.seconds for window in self.windows)
        for key in [
            k
            for k, queues in self.times.items()
            if not any(queue and queue[-1] > now - longest for queue in queues)
        ]:
            del self.times[key]


# One round trip: drop what has left each window, count, and add this request
# to every window only if all have room. Redis's own clock, so that every dyno
# counts alike; a member of its own for each request.
MOVING_WINDOWS = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local counts, allowed = {}, 1
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2] or now
  if count >= limit then allowed = 0 end
  counts[i] = {count, tostring(oldest)}
end
if allowed == 1 then
  for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, now .. ':' .. ARGV[1])
    redis.call('PEXPIRE', key, tonumber(ARGV[2 * i + 1]))
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


class RedisCounts:
    """The counts in Redis; while Redis cannot answer, in this worker instead,
    said once in the log, with Redis tried again at growing intervals."""

    def __init__(self, windows: list[Window], redis_url: str, fallback: WorkerCounts):
        import redis

        self.windows = windows
        self.errors = (redis.RedisError, OSError)
        # A pool and its connections, not a client: the client's per-command
        # bookkeeping (retries, metrics hooks, argument checks, the script's own
        # wrapper) cost about a fifth of a count, and none of it applies here.
        self.pool = redis.ConnectionPool.from_url(redis_url, **redis_options(redis_url))
        self.script_lost = redis.exceptions.NoScriptError
        self.window_args = [
            value
            for window in windows
            for value in (window.limit, window.seconds * 1000)
        ]
        self.fallback = fallback
        self.retry_at = 0.0  # while Redis is down: when to try it again
        self.retry_in = FIRST_RETRY_SECONDS

    def run_script(self, keys: list[str], args: list):
        """MOVING_WINDOWS by its digest; sent whole when Redis no longer has it
        (a restart forgets scripts), which caches it for the next request."""
        connection = self.pool.get_connection()
        try:
            connection.send_command("EVALSHA", SCRIPT_SHA, len(keys), *keys, *args)
            try:
                return connection.read_response()
            except self.script_lost:
                connection.send_command("EVAL", MOVING_WINDOWS, len(keys), *keys, *args)
                return connection.read_response()
        except BaseException:
            connection.disconnect()  # its reply may still arrive: never reuse it
            raise
        finally:
            self.pool.release(connection)

    def hit(self, key: str, now: float) -> Decision:
        if now < self.retry_at:  # Redis failed lately: not yet again
            return self.fallback.hit(key, now)
        try:
            redis_now, counts = self.run_script(
                [f"ratelimit:{key}:{window.seconds}" for window in self.windows],
                [os.urandom(6).hex(), *self.window_args],
            )
        except self.errors as error:
            if not self.retry_at:
                log.warning(
                    "Rate limit storage unreachable (%s): counting in each worker "
                    "until it is back",
                    type(error).__name__,
                )
            self.retry_at = now + self.retry_in
            self.retry_in = min(self.retry_in * 2, LAST_RETRY_SECONDS)
            return self.fallback.hit(key, now)
        if self.retry_at:
            log.warning("Rate limit storage recovered: counting in Redis again")
            self.retry_at, self.retry_in = 0.0, FIRST_RETRY_SECONDS
        # The counts before this request, as the script saw them atomically: the
        # same rule then says whether it passed.
        return decide(
            self.windows,
            [(int(count), float(oldest) / 1000) for count, oldest in counts],
            float(redis_now) / 1000,
        )


def allowance_headers(decision: Decision) -> list[tuple[str, str]]:
    return [
        ("X-RateLimit-Limit", str(decision.limit)),
        ("X-RateLimit-Remaining", str(decision.remaining)),
        ("X-RateLimit-Reset", str(int(decision.reset))),
    ]


class TellAllowance:
    """WSGI middleware: every limited answer, refusals included, says where the
    client stands. Added as the answer starts, a third of the cost of an
    after_request hook setting each header on Werkzeug's Headers."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        def start_with_allowance(status, headers, exc_info=None):
            decision = environ.get(DECISION_KEY)
            if decision is not None:
                headers.extend(allowance_headers(decision))
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_allowance)


def init_app(app: Flask) -> None:
    """Limits every route but /healthz (static files never reach the app) when
    RATE_LIMIT is set: one allowance per address, across all routes. The
    windows move, so no burst at a window's edge passes twice the limit."""
    if not app.config["RATE_LIMIT"]:
        return
    windows = parse_windows(app.config["RATE_LIMIT"])
    in_worker = WorkerCounts(windows)
    redis_url = app.config["REDIS_URL"]
    counts = RedisCounts(windows, redis_url, in_worker) if redis_url else in_worker
    refusal = (
        f"Too many requests from your address: the limit is "
        f"{app.config['RATE_LIMIT']}. Retry-After says how many seconds to wait."
    )

    # The hook holds the counts and the refusal's text, worked out once.
    @app.before_request
    def check_allowance():
        """Before each limited request: counted against the address the site
        already trusts, so writing X-Forwarded-For buys no new allowance."""
        endpoint = request.endpoint
        if endpoint is None or endpoint in UNLIMITED_ENDPOINTS:
            return
        decision = counts.hit(str(visitor.address()), time.time())
        request.environ[DECISION_KEY] = decision
        if not decision.allowed:
            raise TooManyRequests(
                refusal, retry_after=max(1, round(decision.reset - time.time()))
            )

    app.wsgi_app = TellAllowance(app.wsgi_app)
