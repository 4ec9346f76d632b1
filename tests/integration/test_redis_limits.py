"""Rate limits counted in a real redis-server: the Lua script's windows and
expiry, batches, Redis lost and back, and connections shared in batches."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis

from support.clients import CLIENTS
from support.serving import wait_for
from whatismyip.infra import redis_store
from whatismyip.infra.redis_store import RedisStore, script_sha
from whatismyip.web.rate_limits import (
    MOVING_WINDOWS,
    Limiter,
)


def test_a_redis_that_forgot_the_script_is_sent_it_again(shared_redis):
    """A restarted or flushed Redis has no scripts: counting goes on in Redis,
    not in the worker."""
    store = redis.Redis.from_url(shared_redis.url)
    assert store.script_load(MOVING_WINDOWS) == script_sha(MOVING_WINDOWS)
    counts = Limiter("ratelimit", "5/minute", RedisStore(shared_redis.url))
    client = next(CLIENTS)
    remaining = []
    for _ in range(3):
        store.script_flush()
        remaining.append(counts.hit(client, time.monotonic()).remaining)
    assert remaining == [4, 3, 2]
    assert store.zcard(f"ratelimit:{client}:60") == 3
    assert counts.in_worker.stored == 0  # never fell back to counting in the worker


def test_every_key_in_redis_expires_within_its_window(shared_redis):
    store = redis.Redis.from_url(shared_redis.url)
    counts = Limiter("ratelimit", "2/second;5/minute", RedisStore(shared_redis.url))
    client = next(CLIENTS)
    for _ in range(4):  # past the tighter window: refusals set no key of their own
        counts.hit(client, time.monotonic())
    keys = store.keys(f"ratelimit:{client}:*")
    assert sorted(keys) == [
        f"ratelimit:{client}:1".encode(),
        f"ratelimit:{client}:60".encode(),
    ]
    for key in keys:
        window_ms = int(key.rsplit(b":", 1)[1]) * 1000
        assert 0 < store.pttl(key) <= window_ms


def test_several_windows_in_redis_each_hold(shared_redis):
    counts = Limiter("ratelimit", "2/second;3/minute", RedisStore(shared_redis.url))
    client = next(CLIENTS)
    first = [counts.hit(client, time.monotonic()) for _ in range(3)]
    assert [decision.allowed for decision in first] == [True, True, False]
    assert (first[2].limit, first[2].remaining) == (2, 0)  # the second's window
    assert 0 < first[2].reset_after <= 1
    third = wait_for(
        lambda: (decision := counts.hit(client, time.monotonic())).allowed and decision,
        timeout=5,
        what="the second's window moved on",
    )
    assert (third.limit, third.remaining) == (3, 0)  # now the minute's is tighter
    refused = counts.hit(client, time.monotonic())
    assert (refused.allowed, refused.limit) == (False, 3)
    assert 55 < refused.reset_after <= 60


def test_a_batch_counts_each_of_its_lookups_in_redis(shared_redis):
    counts = Limiter("lookuplimit", "5/minute", RedisStore(shared_redis.url))
    client = next(CLIENTS)
    first = counts.hit(client, time.monotonic(), cost=3)
    second = counts.hit(client, time.monotonic(), cost=3)
    assert (first.granted, second.granted, second.remaining) == (3, 2, 0)
    stored = redis.Redis.from_url(shared_redis.url)
    assert stored.zcard(f"lookuplimit:{client}:60") == 5
    assert counts.in_worker.stored == 0


def test_redis_back_is_used_again_at_once(shared_redis):
    store = RedisStore(shared_redis.url)
    store.failed(ConnectionError(), 10.0)
    assert not store.usable(10.5)
    assert store.usable(11.0)
    store.answered(10.2)
    assert store.usable(10.3)
    assert store.retry_in == 1


def test_a_redis_that_answers_is_not_said_to_have_recovered(shared_redis, caplog):
    counts = Limiter("ratelimit", "5/minute", RedisStore(shared_redis.url))
    assert counts.hit(next(CLIENTS), time.monotonic()).remaining == 4
    assert caplog.records == []


def test_every_connection_busy_counts_in_the_worker(shared_redis):
    store = RedisStore(shared_redis.url)
    store.free = 0  # every connection taken by other requests
    counts = Limiter("lookuplimit", "5/minute", store)
    first = counts.hit("a", 10.0, cost=2)
    assert (first.granted, first.remaining) == (2, 3)
    assert counts.hit("b", 10.5).remaining == 4  # another client, its own count
    assert counts.in_worker.stored == 3
    assert store.usable(11.0)  # busy is not down


def test_redis_answering_again_is_said(shared_redis, caplog):
    store = RedisStore(shared_redis.url)
    now = time.monotonic()
    store.failed(ConnectionError(), now - 100)  # down, said, and due a retry
    counts = Limiter("ratelimit", "5/minute", store)
    assert counts.hit(next(CLIENTS), now).remaining == 4
    assert caplog.records[-1].getMessage() == (
        "Redis answering again: rate limits counted and registry answers kept in Redis"
    )


def test_counts_arriving_together_share_the_connections_in_batches(
    shared_redis, monkeypatch
):
    """Twenty-four counts at once on four connections: those that find no free
    connection wait, and are sent in batches by whoever holds one. Every count
    lands in Redis exactly once, and none falls back to the worker. (The wait
    for a connection is lengthened here: it is not what this test is about.)"""
    monkeypatch.setattr(redis_store, "REDIS_TIMEOUT_SECONDS", 5)
    counts = Limiter("ratelimit", "100/minute", RedisStore(shared_redis.url))
    client = next(CLIENTS)
    start = threading.Barrier(24)

    def hit(_):
        start.wait()
        return counts.hit(client, time.monotonic())

    with ThreadPoolExecutor(max_workers=24) as pool:
        decisions = list(pool.map(hit, range(24)))
    assert all(decision.allowed for decision in decisions)
    assert sorted(decision.remaining for decision in decisions) == list(range(76, 100))
    assert redis.Redis.from_url(shared_redis.url).zcard(f"ratelimit:{client}:60") == 24
    assert counts.in_worker.stored == 0
    assert counts.store.free == 4  # every connection handed back
    assert counts.store.waiting == []


def test_the_app_counts_in_redis_when_given_one(make_app, shared_redis):
    client = make_app(RATE_LIMIT="5/minute", REDIS_URL=shared_redis.url).test_client()
    address = next(CLIENTS)
    answer = client.get("/api/ip", environ_base={"REMOTE_ADDR": address})
    assert answer.headers["X-RateLimit-Remaining"] == "4"
    stored = redis.Redis.from_url(shared_redis.url)
    assert stored.zcard(f"ratelimit:{address}:60") == 1
