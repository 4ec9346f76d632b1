"""The worker's connection to Redis (REDIS_URL; Heroku Key-Value Store sets
it), shared by what every dyno must agree on: the rate limits' counts, and the
registries' answers about who runs a network. Bounded in connections and in
time; when Redis is slow or down, each user does without it and says so once."""

import hashlib
import logging
import math
import threading
from functools import lru_cache
from typing import Any

log = logging.getLogger("whatismyip")

# The longest a request waits for Redis, a free connection to it included,
# before it does without (counts in the worker, asks the registry): a slow or
# dead Redis never holds up an answer.
REDIS_TIMEOUT_SECONDS = 0.1
# Connections to Redis per worker. Small plans cap clients (Heroku's mini plan
# at 20): two dynos of two workers take 16. A count takes a fraction of a
# millisecond, so four serve thousands of requests a second.
REDIS_CONNECTIONS = 4
# After Redis fails, how long until it is tried again: doubling up to a cap.
FIRST_RETRY_SECONDS, LAST_RETRY_SECONDS = 1, 32
# A Redis that comes and goes is told in the log at most this often per worker.
LOG_EVERY_SECONDS = 60


@lru_cache(maxsize=8)  # the site's few scripts, hashed once each
def script_sha(script: str) -> str:
    """Redis knows a script by its SHA-1 digest."""
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


def redis_options(redis_url: str) -> dict[str, Any]:
    """redis-py settings for the worker's connection pool."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options: dict[str, Any] = {
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
    """One script call waiting for Redis: queued, then sent in a batch, then
    answered; or promoted to send the next batch itself (its own call may by
    then have gone in another's batch: it is answered when that batch is)."""

    __slots__ = (
        "script",
        "keys",
        "args",
        "ready",
        "answered",
        "reply",
        "error",
        "sends",
    )

    def __init__(self, script: str, keys: list[str], args: list[Any]):
        self.script, self.keys, self.args = script, keys, args
        self.ready = threading.Event()  # answered, or promoted
        self.answered = threading.Event()
        self.reply: Any = None
        self.error: BaseException | None = None
        self.sends = False


class RedisStore:
    """The worker's connections to Redis, shared by the rate limits' counts and
    the registry answers kept for every dyno, and whether Redis answers. While
    it does not, it is tried again at growing intervals, and each user does
    without it.

    Every call is a Lua script, and calls go out in batches: a request that
    finds a connection free sends every call waiting, pipelined, in one round
    trip; the others wait, and when a batch is answered, the next one waiting
    sends the next batch. Under gevent a connection is held until its greenlet
    runs again, which under a burst can be tens of milliseconds, so a
    connection per call would run out of connections long before Redis or the
    worker ran out of room."""

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

    def call(self, script: str, keys: list[str], args: list[Any], now: float) -> Any:
        """The script's reply, or None where Redis is down or busy (the caller
        then does without it); `now` on the monotonic clock."""
        if not self.usable(now):
            return None
        try:
            reply = self.run_script(script, keys, args)
        except Busy:
            return None
        except self.errors as error:
            self.failed(error, now)
            return None
        self.answered(now)
        return reply

    def run_script(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """The script's reply for these keys; Busy if no connection came free
        within REDIS_TIMEOUT_SECONDS."""
        call = Call(script, keys, args)
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

    def _send_batch(self) -> None:
        """Sends every call waiting on one connection, then hands it on: to
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

    def _exchange(self, batch: list[Call]) -> None:
        """Each call's script by its digest, pipelined; sent whole where Redis
        no longer has it (a restart forgets scripts), which caches it for the
        next batch."""
        connection = self.pool.get_connection()
        try:
            self._pipeline(connection, "EVALSHA", batch)
            lost = [call for call in batch if isinstance(call.error, self.script_lost)]
            if lost:
                self._pipeline(connection, "EVAL", lost)
        except BaseException:
            connection.disconnect()  # type: ignore[no-untyped-call] # replies may still arrive: never reuse it
            raise
        finally:
            self.pool.release(connection)

    def _pipeline(self, connection: Any, command: str, calls: list[Call]) -> None:
        name = script_sha if command == "EVALSHA" else str  # EVAL sends it whole
        commands = [
            (command, name(call.script), len(call.keys), *call.keys, *call.args)
            for call in calls
        ]
        connection.send_packed_command(connection.pack_commands(commands))
        for call in calls:
            try:
                call.reply, call.error = connection.read_response(), None
            except self.answer_errors as error:  # an error of this call's alone
                call.error = error

    def failed(self, error: Exception, now: float) -> None:
        if now < self.retry_at:  # another call of the same batch said so
            return
        self.down, self.failure = True, type(error).__name__
        self.retry_at = now + self.retry_in
        self.retry_in = min(self.retry_in * 2, LAST_RETRY_SECONDS)
        self.tell(now)

    def answered(self, now: float) -> None:
        if self.down:
            self.down, self.retry_at, self.retry_in = False, 0.0, FIRST_RETRY_SECONDS
        if self.said_down:
            self.tell(now)

    def tell(self, now: float) -> None:
        """Logs the state Redis is in if the log says otherwise, each state at
        most once a minute: a Redis that comes and goes is two lines a minute,
        not two a request, and the log catches up with the last change."""
        down = self.down
        if down != self.said_down and now >= self.said_at[down] + LOG_EVERY_SECONDS:
            self.said_down, self.said_at[down] = down, now
            if down:
                log.warning(
                    "Redis unreachable (%s): rate limits counted and registry "
                    "answers kept in each worker until it is back",
                    self.failure,
                )
            else:
                log.warning(
                    "Redis answering again: rate limits counted and registry "
                    "answers kept in Redis"
                )
