"""Rate limits in booted servers: two "dynos" of two workers each sharing a
real redis-server on loopback, Redis going away and coming back, and the
in-process default on one worker."""

import time

import pytest
import redis
import requests

from support.clients import BROWSER, CLIENTS, CURL, as_client
from support.router import Router
from support.serving import Burst, RedisServer, wait_for

LIMIT = "10/minute"


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
        assert (
            answer.headers["X-RateLimit-Scope"]
            == answers[0].request.headers["X-Forwarded-For"]
        )
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
    # In words too, for a person or a log: how long to wait.
    assert f"Try again in {text.headers['Retry-After']} second" in text.text


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
        assert log.count("Redis unreachable") == 1  # once, not per request
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
        assert "Redis answering again" in server.log()
    finally:
        store.stop()


def test_the_lookup_limit_is_on_by_default(start_server):
    server = start_server(WEB_CONCURRENCY="1")  # the defaults, as on a dyno
    statuses = [
        requests.get(f"{server.url}/api/lookup/10.0.0.{n}", timeout=10).status_code
        for n in range(61)
    ]
    assert statuses == [200] * 60 + [429]
    assert requests.get(f"{server.url}/api", timeout=10).status_code == 200


def test_a_burst_on_a_small_redis_plan_still_counts_exactly(start_server, tmp_path):
    """Two dynos of two workers against a Redis that takes 20 clients, as a
    small plan does, while 200 other clients keep them busy."""
    store = RedisServer(tmp_path, ("--maxclients", "20"))
    dynos = [
        start_server(
            DYNO=f"web.{n}", WEB_CONCURRENCY="2", RATE_LIMIT=LIMIT, REDIS_URL=store.url
        )
        for n in (1, 2)
    ]
    try:
        burst = Burst(
            [dyno.url for dyno in dynos],
            lambda n, i: ("/api/ip", as_client(f"198.18.{n // 256}.{n % 256}")),
            clients=200,
        )
        try:
            wait_for(lambda: burst.answers > 1000, what="the burst under way")
            answers = alternate(dynos, 14, **as_client(next(CLIENTS)))
            assert burst.thread.is_alive()  # still bursting
        finally:
            burst.stop()
    finally:
        store.stop()
    assert burst.statuses == {b"200", b"429"}  # each burst client past its limit
    assert [answer.status_code for answer in answers] == [200] * 10 + [429] * 4
    for dyno in dynos:
        assert "Rate limit storage" not in dyno.log()
        assert "Traceback" not in dyno.log()
