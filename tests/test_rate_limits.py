"""Rate limits: two "dynos" booted from the Procfile, two workers each, sharing a
real redis-server on loopback; and the in-process default on one worker."""

import itertools
import time

import pytest
import redis
import requests

from conftest import BROWSER, CURL
from router import Router
from serving import RedisServer, wait_for
from whatismyip.config import parse_rate_limit
from whatismyip.rate_limits import (
    MOVING_WINDOWS,
    SCRIPT_SHA,
    RedisCounts,
    WorkerCounts,
    parse_windows,
    redis_options,
)

LIMIT = "10/minute"
CLIENTS = (f"203.0.113.{n}" for n in itertools.count(1))  # one address per test


def as_client(address: str, **headers) -> dict:
    """What the router would send for a visitor at `address`."""
    return {"X-Forwarded-For": address, **headers}


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dynos(start_server, shared_redis):
    """Two dynos of two workers each, counting in the same Redis."""
    return [
        start_server(
            DYNO=f"web.{n}",
            WEB_CONCURRENCY="2",
            RATE_LIMIT=LIMIT,
            REDIS_URL=shared_redis.url,
        )
        for n in (1, 2)
    ]


def alternate(dynos, count: int, path="/api/ip", **headers):
    """`count` requests, taking turns between the dynos."""
    return [
        requests.get(f"{dynos[i % 2].url}{path}", headers=headers, timeout=10)
        for i in range(count)
    ]


def test_exactly_the_limit_passes_across_dynos_and_workers(dynos):
    answers = alternate(dynos, 14, **as_client(next(CLIENTS)))
    assert [answer.status_code for answer in answers] == [200] * 10 + [429] * 4


def test_every_answer_tells_the_remaining_allowance(dynos):
    answers = alternate(dynos, 11, **as_client(next(CLIENTS)))
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == [
        "9", "8", "7", "6", "5", "4", "3", "2", "1", "0", "0",
    ]  # fmt: skip
    for answer in answers:
        assert answer.headers["X-RateLimit-Limit"] == "10"
        assert int(answer.headers["X-RateLimit-Reset"]) > time.time()
        exposed = answer.headers["Access-Control-Expose-Headers"]
        assert "X-RateLimit-Remaining" in exposed
        assert "Retry-After" in exposed
    assert "Retry-After" not in answers[0].headers  # only a refusal says to wait
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 60


def exhaust(dynos, address):
    alternate(dynos, 10, **as_client(address))


def test_a_refusal_speaks_the_callers_language(dynos):
    address = next(CLIENTS)
    exhaust(dynos, address)
    api = requests.get(f"{dynos[0].url}/api", headers=as_client(address), timeout=10)
    assert api.status_code == 429
    assert api.headers["Content-Type"] == "application/json"
    assert api.json()["error"]["status"] == 429
    assert "10/minute" in api.json()["error"]["message"]
    assert api.headers["Access-Control-Allow-Origin"] == "*"
    text = requests.get(dynos[1].url, headers=as_client(address, **CURL), timeout=10)
    assert text.status_code == 429
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text.text.startswith("429 Too Many Requests: Too many requests from")
    page = requests.get(dynos[0].url, headers=as_client(address, **BROWSER), timeout=10)
    assert page.status_code == 429
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<h1 id="error-heading">429 Too Many Requests</h1>' in page.text
    for answer in (api, text, page):
        assert 0 < int(answer.headers["Retry-After"]) <= 60


def test_another_client_is_unaffected(dynos):
    exhaust(dynos, next(CLIENTS))
    other = requests.get(
        f"{dynos[0].url}/api/ip", headers=as_client(next(CLIENTS)), timeout=10
    )
    assert other.status_code == 200
    assert other.headers["X-RateLimit-Remaining"] == "9"


def test_healthz_is_never_limited(dynos):
    address = next(CLIENTS)
    exhaust(dynos, address)
    for answer in alternate(dynos, 12, "/healthz", **as_client(address)):
        assert answer.status_code == 200
        assert "X-RateLimit-Remaining" not in answer.headers


def test_writing_x_forwarded_for_buys_no_new_allowance(dynos):
    """Behind the router, whatever a client writes stays left of the entry the
    router appends, which is the one the key is made from."""
    routers = [Router(dyno.url) for dyno in dynos]
    try:
        statuses = [
            requests.get(
                f"{routers[i % 2].url}/api/ip",
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
                timeout=10,
            ).status_code
            for i in range(12)
        ]
    finally:
        for router in routers:
            router.close()
    assert statuses == [200] * 10 + [429] * 2


def test_in_process_counting_on_one_worker(start_server):
    server = start_server(WEB_CONCURRENCY="1", RATE_LIMIT="3/minute")
    statuses = [
        requests.get(f"{server.url}/api/ip", timeout=10).status_code for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]


# --- Redis down, slow, and back ---------------------------------------------------


def limiter_keys(redis_url: str) -> list[bytes]:
    return redis.Redis.from_url(redis_url).keys("ratelimit:*")


def timed_get(url: str, **headers) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.get(url, headers=headers, timeout=10)
    return response, time.monotonic() - started


def test_redis_dead_or_hung_degrades_to_counting_in_each_worker(start_server, tmp_path):
    store = RedisServer(tmp_path)
    server = start_server(
        DYNO="web.1", WEB_CONCURRENCY="1", RATE_LIMIT="100/minute", REDIS_URL=store.url
    )
    url = f"{server.url}/api/ip"
    try:
        assert timed_get(url, **as_client("192.0.2.1"))[0].status_code == 200
        assert limiter_keys(store.url)  # counted in Redis

        store.process.send_signal(19)  # SIGSTOP: Redis accepts, never answers
        for n in range(5):
            answer, took = timed_get(url, **as_client(f"192.0.2.{10 + n}"))
            assert answer.status_code == 200
            assert answer.headers["X-RateLimit-Remaining"] == "99"  # still counted
            assert took < 1, f"{took:.2f} s; Redis may hold a request ~0.1 s"
        store.process.send_signal(18)  # SIGCONT
        store.kill()
        for n in range(5):
            answer, took = timed_get(url, **as_client(f"192.0.2.{20 + n}"))
            assert answer.status_code == 200
            assert took < 1
        log = server.log()
        assert log.count("Rate limit storage unreachable") == 1  # once, not per request
        assert "Traceback" not in log

        store.start()
        assert limiter_keys(store.url) == []  # a fresh Redis, nothing counted yet
        wait_for(
            lambda: (
                timed_get(url, **as_client("192.0.2.99"))[0].status_code == 200
                and limiter_keys(store.url)
            ),
            timeout=45,  # Redis is tried again at growing intervals, up to 32 s
            what="counting resumed in Redis",
        )
        assert "Rate limit storage recovered" in server.log()
    finally:
        store.stop()


def test_a_redis_that_forgot_the_script_is_sent_it_again(shared_redis):
    """A restarted or flushed Redis has no scripts: counting goes on in Redis,
    not in the worker."""
    store = redis.Redis.from_url(shared_redis.url)
    assert store.script_load(MOVING_WINDOWS) == SCRIPT_SHA
    windows = parse_windows("5/minute")
    counts = RedisCounts(windows, shared_redis.url, WorkerCounts(windows))
    client = next(CLIENTS)
    remaining = []
    for _ in range(3):
        store.script_flush()
        remaining.append(counts.hit(client, time.time()).remaining)
    assert remaining == [4, 3, 2]
    assert store.zcard(f"ratelimit:{client}:60") == 3
    assert not counts.retry_at  # never fell back to counting in the worker


# --- Configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "parsed"),
    [
        ("60/minute", "60/minute"),
        (" 10/second;1000/day ", "10/second;1000/day"),
        ("", ""),
    ],
)
def test_rate_limit_setting(setting, parsed):
    assert parse_rate_limit(setting) == parsed


@pytest.mark.parametrize("setting", ["lots", "60 per fortnight", "/minute"])
def test_nonsense_rate_limit_is_refused_with_a_clear_message(setting):
    with pytest.raises(ValueError, match="RATE_LIMIT must look like 60/minute"):
        parse_rate_limit(setting)


def test_heroku_key_value_store_tls_urls_skip_verifying_self_signed_certificates():
    assert redis_options("rediss://:secret@ec2.example:6380")["ssl_cert_reqs"] == "none"
    assert "ssl_cert_reqs" not in redis_options("redis://127.0.0.1:6379")
    assert redis_options("redis://127.0.0.1:6379")["socket_timeout"] == 0.1


def test_without_rate_limit_no_allowance_headers_are_sent(client):
    assert "X-RateLimit-Limit" not in client.get("/api/ip").headers


def test_the_limit_in_the_app_from_its_factory(make_app):
    client = make_app(RATE_LIMIT="2/minute").test_client()
    statuses = [client.get("/api/ip").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


# --- The moving windows, counted in a worker ----------------------------------------


def test_a_moving_window_counts_exactly():
    counts = WorkerCounts(parse_windows("3/minute"))
    decisions = [counts.hit("a", now) for now in (0, 1, 2, 3, 59.9, 60.5, 61.5)]
    assert [d.allowed for d in decisions] == [
        True,
        True,
        True,
        False,
        False,
        True,
        True,
    ]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0, 0, 0]
    assert decisions[3].reset == 60  # when the request at 0 stops counting
    assert counts.hit("b", 3).remaining == 2  # another address, its own window


def test_the_tightest_of_several_windows_decides_and_is_told():
    counts = WorkerCounts(parse_windows("2/second;3/minute"))
    decisions = [counts.hit("a", now) for now in (0, 0.1, 0.2, 1.5, 2.5)]
    assert [d.allowed for d in decisions] == [True, True, False, True, False]
    assert [(d.limit, d.remaining) for d in decisions] == [
        (2, 1), (2, 0), (2, 0), (3, 0), (3, 0)
    ]  # fmt: skip


def test_addresses_gone_quiet_are_forgotten():
    counts = WorkerCounts(parse_windows("5/second"))
    counts.SWEEP_EVERY = counts.until_sweep = 3
    counts.hit("old", 0)
    counts.hit("new", 10)
    counts.hit("new", 10.1)
    assert set(counts.times) == {"new"}
