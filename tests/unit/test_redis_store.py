"""The worker's Redis connection: TLS as Heroku's Key-Value Store needs it, and
a Redis that comes and goes told in the log at most once a minute each way."""

import socket

from whatismyip.infra.redis_store import RedisStore, redis_options
from whatismyip.web.rate_limits import (
    Limiter,
)


def test_a_flapping_redis_is_told_at_most_once_a_minute_each_way(caplog):
    store = RedisStore("redis://127.0.0.1:1/0")  # never connected to here
    for second in range(0, 50, 2):  # down and back every second for 50 s
        store.failed(ConnectionError(), second)
        store.answered(second + 1)
    said = [record.getMessage() for record in caplog.records]
    assert [line.split(" (")[0].split(":")[0] for line in said] == [
        "Redis unreachable",
        "Redis answering again",
    ]
    store.failed(ConnectionError(), 61)  # a minute on, it is told again
    assert "unreachable" in caplog.records[-1].getMessage()
    assert len(caplog.records) == 3


def test_heroku_key_value_store_tls_urls_skip_verifying_self_signed_certificates():
    assert redis_options("rediss://:secret@ec2.example:6380")["ssl_cert_reqs"] == "none"
    assert "ssl_cert_reqs" not in redis_options("redis://127.0.0.1:6379")
    assert redis_options("redis://127.0.0.1:6379")["socket_timeout"] == 0.1


def test_the_redis_pool_is_small_and_quick_to_give_up():
    options = redis_options("redis://cache.example:6379/0")
    assert options["retry"].get_retries() == 0
    pool = RedisStore("redis://cache.example:6379/0").pool
    assert pool.max_connections == 4
    assert pool.connection_kwargs["socket_timeout"] == 0.1
    assert pool.connection_kwargs["socket_connect_timeout"] == 0.1


def test_a_dead_redis_is_retried_at_doubling_intervals_meanwhile_counted_here(
    caplog,
):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0")  # nothing listens there
    counts = Limiter("ratelimit", "2/minute", store)
    assert counts.hit("a", 100.0).remaining == 1
    assert (store.retry_at, store.retry_in) == (101.0, 2)
    assert [record.getMessage() for record in caplog.records] == [
        "Redis unreachable (ConnectionError): rate limits counted and registry "
        "answers kept in each worker until it is back"
    ]
    assert counts.hit("a", 100.5).remaining == 0  # not tried: counted here
    assert counts.hit("b", 100.6).remaining == 1  # another client, its own count
    assert not counts.hit("a", 101.0).allowed  # tried again at exactly 101 s
    assert (store.retry_at, store.retry_in) == (103.0, 4)
    assert len(caplog.records) == 1  # said once


def test_a_state_is_told_again_exactly_a_minute_on(caplog):
    store = RedisStore("redis://127.0.0.1:1/0")
    store.failed(ConnectionError(), 0.0)
    store.answered(1.0)
    store.failed(ConnectionError(), 60.0)
    assert [record.getMessage().split(" (")[0] for record in caplog.records] == [
        "Redis unreachable",
        "Redis answering again: rate limits counted and registry answers kept in Redis",
        "Redis unreachable",
    ]
