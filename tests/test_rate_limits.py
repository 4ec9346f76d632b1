"""Rate limits: two "dynos" booted from the Procfile, two workers each, sharing a
real redis-server on loopback; and the in-process default on one worker."""

import ipaddress
import itertools
import math
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from conftest import BROWSER, CURL
from router import Router
from serving import Burst, RedisServer, wait_for
from whatismyip import redis_store
from whatismyip.config import (
    SettingError,
    parse_ipv6_prefix,
    parse_rate_limit,
    settings_from_environment,
)
from whatismyip.rate_limits import (
    MOVING_WINDOWS,
    Allowance,
    Decision,
    Limiter,
    Window,
    WorkerCounts,
    allowance_headers,
    client_key,
    decide,
    parse_windows,
    refusal,
    retry_after,
)
from whatismyip.redis_store import RedisStore, redis_options, script_sha

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


# --- Configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "parsed"),
    [
        ("60/minute", "60/minute"),
        (" 10/second;1000/day ", "10/second;1000/day"),
        ("", ""),
        ("None", ""),
    ],
)
def test_rate_limit_setting(setting, parsed):
    assert parse_rate_limit(setting) == parsed


@pytest.mark.parametrize(
    "setting",
    ["lots", "60 per fortnight", "/minute", "0/minute", "10 per 0 seconds", "5/0day"],
)
def test_nonsense_rate_limit_is_refused_with_a_clear_message(setting):
    with pytest.raises(SettingError, match="RATE_LIMIT must look like 60/minute"):
        parse_rate_limit(setting)
    with pytest.raises(SettingError, match="^LOOKUP_RATE_LIMIT must look like"):
        parse_rate_limit(setting, "LOOKUP_RATE_LIMIT")


def test_the_defaults_limit_lookups_but_not_requests():
    settings = settings_from_environment({})
    assert settings["RATE_LIMIT"] is None
    assert settings["LOOKUP_RATE_LIMIT"] == "60/minute"
    assert settings["RATE_LIMIT_IPV6_PREFIX"] == 64
    assert (
        settings_from_environment({"LOOKUP_RATE_LIMIT": ""})["LOOKUP_RATE_LIMIT"]
        is None
    )


def test_ipv6_prefix_setting():
    assert parse_ipv6_prefix(" 48 ") == 48
    assert parse_ipv6_prefix("128") == 128
    for nonsense in ("31", "129", "", "sixty-four", "６４", "64.0"):
        with pytest.raises(SettingError, match="RATE_LIMIT_IPV6_PREFIX must be"):
            parse_ipv6_prefix(nonsense)


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
    times = (0, 1, 2, 3, 59.9, 60.5, 61.5)
    decisions = [counts.hit("a", now) for now in times]
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
    # Seconds until the request at 0 stops counting.
    assert [d.reset_after for d in decisions[:5]] == [
        60,
        59,
        58,
        57,
        pytest.approx(0.1),
    ]
    assert counts.hit("b", 3).remaining == 2  # another address, its own window


def test_the_tightest_of_several_windows_decides_and_is_told():
    counts = WorkerCounts(parse_windows("2/second;3/minute"))
    decisions = [counts.hit("a", now) for now in (0, 0.1, 0.2, 1.5, 2.5)]
    assert [d.allowed for d in decisions] == [True, True, False, True, False]
    assert [(d.limit, d.remaining) for d in decisions] == [
        (2, 1), (2, 0), (2, 0), (3, 0), (3, 0)
    ]  # fmt: skip


def test_the_wait_is_read_on_the_clock_the_counts_were_made_on():
    """Redis's clock may be far from ours: only differences on it are used."""
    windows = parse_windows("3/minute")
    redis_now = 1_000_000_000.0  # decades from this machine's clock
    decision = decide(windows, [(3, redis_now - 10)], redis_now)
    assert (decision.allowed, decision.reset_after) == (False, 50)


def test_a_worker_keeps_its_most_recent_clients_within_bounds():
    counts = WorkerCounts(parse_windows("2/minute"), max_clients=1000)
    for n in range(100_000):  # one request each, as a sweep of addresses sends
        counts.hit(f"client {n}", n / 1000)
    assert len(counts.times) == 1000
    assert counts.stored == 1000
    assert "client 99000" in counts.times
    assert "client 98999" not in counts.times  # the least recently seen went first


def test_a_client_seen_again_is_kept_over_one_gone_quiet():
    counts = WorkerCounts(parse_windows("2/minute"), max_clients=2)
    counts.hit("quiet", 0)
    counts.hit("busy", 1)
    counts.hit("busy", 2)
    assert not counts.hit("busy", 3).allowed
    counts.hit("newcomer", 4)
    assert list(counts.times) == ["busy", "newcomer"]
    assert not counts.hit("busy", 5).allowed  # still counted, still refused


def test_request_times_are_bounded_too():
    """A few busy clients cannot hold more than the bound either."""
    counts = WorkerCounts(parse_windows("100/minute"), max_clients=10, max_times=150)
    for n in range(100):
        counts.hit("first", n / 100)
    for n in range(100):
        counts.hit("second", 1 + n / 100)
    assert counts.stored == 100
    assert list(counts.times) == ["second"]


def test_times_out_of_every_window_are_dropped():
    counts = WorkerCounts(parse_windows("5/second;10/minute"))
    for now in (0, 0.5, 30):
        counts.hit("a", now)
    counts.hit("a", 61)  # 0 and 0.5 have left the minute
    assert counts.times["a"] == [30, 61]
    assert counts.stored == 2


@pytest.mark.parametrize(
    ("address", "prefix", "key"),
    [
        ("192.0.2.7", 64, "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"),
        ("2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128"),
        (None, 64, "unknown"),
    ],
)
def test_client_keys(address, prefix, key):
    parsed = ipaddress.ip_address(address) if address else None
    assert client_key(parsed, prefix) == key


# --- Who is one client, and what counts ---------------------------------------------


def test_an_ipv6_client_is_counted_by_its_64(make_app):
    client = make_app(RATE_LIMIT="3/minute", TRUSTED_PROXY_HOPS=1).test_client()

    def status(address):
        return client.get("/api/ip", headers=as_client(address)).status_code

    assert [status(f"2001:db8:1:2::{n}") for n in range(1, 5)] == [200, 200, 200, 429]
    assert status("2001:db8:1:2:ffff:ffff:ffff:ffff") == 429  # same /64
    answer = client.get("/api/ip", headers=as_client("2001:db8:1:3::1"))
    assert answer.status_code == 200  # the next /64 is another client
    assert answer.headers["X-RateLimit-Scope"] == "2001:db8:1:3::/64"
    refused = client.get("/api/ip", headers=as_client("2001:db8:1:2::99"))
    assert "from 2001:db8:1:2::/64" in refused.json["error"]["message"]


def test_the_ipv6_prefix_is_a_setting(make_app):
    client = make_app(
        RATE_LIMIT="1/minute", TRUSTED_PROXY_HOPS=1, RATE_LIMIT_IPV6_PREFIX=128
    ).test_client()
    for n in range(1, 4):  # each address a client of its own
        answer = client.get("/api/ip", headers=as_client(f"2001:db8::{n}"))
        assert answer.status_code == 200
        assert answer.headers["X-RateLimit-Scope"] == f"2001:db8::{n}/128"


def test_unknown_paths_and_wrong_methods_count_preflights_do_not(make_app):
    client = make_app(RATE_LIMIT="3/minute").test_client()
    assert client.get("/no-such-page").status_code == 404
    assert client.post("/api/ip").status_code == 405
    preflight = {
        "Origin": "https://elsewhere.example",
        "Access-Control-Request-Method": "GET",
    }
    for _ in range(5):
        answer = client.options("/api/ip", headers=preflight)
        assert answer.status_code == 200
        assert "X-RateLimit-Remaining" not in answer.headers
    assert client.get("/api/ip").headers["X-RateLimit-Remaining"] == "0"
    assert client.get("/api/ip").status_code == 429


def test_lookups_of_other_addresses_have_their_own_allowance(make_app):
    client = make_app(
        RATE_LIMIT="100/minute", LOOKUP_RATE_LIMIT="3/minute"
    ).test_client()
    first = client.get("/api/lookup/10.0.0.1")
    # The tighter of the two allowances is the one told.
    assert (
        first.headers["X-RateLimit-Limit"],
        first.headers["X-RateLimit-Remaining"],
    ) == (
        "3",
        "2",
    )
    assert client.get("/lookup?address=10.0.0.2").status_code == 200  # the page too
    assert client.get("/api/lookup/10.0.0.3").status_code == 200
    refused = client.get("/api/lookup/10.0.0.4")
    assert refused.status_code == 429
    assert refused.json["error"]["message"].startswith(
        "Too many lookups of other addresses from 127.0.0.1: the limit is 3/minute."
    )
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    page = client.get("/lookup?address=10.0.0.5", headers=BROWSER)
    assert page.status_code == 429
    # The visitor's own report and address, and /healthz, are not lookups.
    for path in ("/api", "/api/ip", "/", "/healthz"):
        assert client.get(path).status_code == 200
    assert client.get("/api/ip").headers["X-RateLimit-Limit"] == "100"


def test_the_lookup_limit_is_on_by_default(start_server):
    server = start_server(WEB_CONCURRENCY="1")  # the defaults, as on a dyno
    statuses = [
        requests.get(f"{server.url}/api/lookup/10.0.0.{n}", timeout=10).status_code
        for n in range(61)
    ]
    assert statuses == [200] * 60 + [429]
    assert requests.get(f"{server.url}/api", timeout=10).status_code == 200


def test_lookup_limit_off_when_set_empty(make_app):
    client = make_app(LOOKUP_RATE_LIMIT=None).test_client()
    answers = [client.get(f"/api/lookup/10.0.0.{n}") for n in range(70)]
    assert {answer.status_code for answer in answers} == {200}
    assert "X-RateLimit-Limit" not in answers[-1].headers


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


# --- Each line has a test that notices it broken (make mutants) ------------------


@pytest.mark.parametrize(
    ("limiter", "reset_after", "said"),
    [
        ("ratelimit", 0.4, "Too many requests from 203.0.113.9: the limit is "
         "10/minute. Try again in 1 second."),
        ("ratelimit", 1.5, "Too many requests from 203.0.113.9: the limit is "
         "10/minute. Try again in 2 seconds."),
        ("lookuplimit", 41.2, "Too many lookups of other addresses from "
         "203.0.113.9: the limit is 10/minute. Try again in 42 seconds."),
    ],
)  # fmt: skip
def test_a_refusal_says_what_was_counted_and_how_long_to_wait(
    limiter, reset_after, said
):
    refused = refusal(
        Limiter(limiter, "10/minute", None),
        "203.0.113.9",
        Decision(False, 10, 0, reset_after),
    )
    assert refused.description == said
    assert refused.retry_after == math.ceil(reset_after)


@pytest.mark.parametrize(
    ("reset_after", "seconds"), [(0.0, 1), (0.2, 1), (1.0, 1), (1.01, 2), (41.2, 42)]
)
def test_retry_after_is_whole_seconds_never_too_few(reset_after, seconds):
    assert retry_after(Decision(False, 10, 0, reset_after)) == seconds


def test_the_allowance_headers_name_each_number(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1_000_000.0)
    allowance = Allowance(Decision(True, 10, 7, 30.6), "2001:db8::/64")
    assert allowance_headers(allowance) == [
        ("X-RateLimit-Limit", "10"),
        ("X-RateLimit-Remaining", "7"),
        ("X-RateLimit-Reset", "1000030"),
        ("X-RateLimit-Scope", "2001:db8::/64"),
    ]


def test_of_equally_tight_windows_the_longer_wait_is_told():
    windows = [Window(5, 1), Window(5, 60)]
    decision = decide(windows, [(2, 100.0), (2, 100.0)], now=100.5)
    assert (decision.remaining, decision.reset_after) == (2, 59.5)


def test_every_window_needs_its_count():
    with pytest.raises(ValueError, match="zip"):
        decide([Window(5, 1), Window(5, 60)], [(0, 0.0)], now=0.0)


@pytest.mark.parametrize(
    ("cost", "counts", "granted", "remaining"),
    [
        (5, [(0, 0.0), (0, 0.0)], 3, 0),  # the tighter window has room for 3
        (2, [(0, 0.0), (0, 0.0)], 2, 1),
        (2, [(3, 0.0), (0, 0.0)], 0, 0),  # no room: none pass
        (4, [(1, 0.0), (5, 0.0)], 2, 0),
    ],
)
def test_a_batch_passes_as_many_as_every_window_has_room_for(
    cost, counts, granted, remaining
):
    decision = decide([Window(3, 1), Window(7, 60)], counts, now=0.5, cost=cost)
    assert (decision.granted, decision.allowed) == (granted, granted > 0)
    assert decision.remaining == remaining


def test_a_batch_counts_each_of_its_lookups_in_the_worker():
    counts = WorkerCounts([Window(5, 60)])
    assert counts.hit("a", 0.0, cost=3).granted == 3
    second = counts.hit("a", 1.0, cost=3)
    assert (second.granted, second.remaining) == (2, 0)
    assert counts.stored == 5
    assert not counts.hit("a", 2.0).allowed


def test_a_batch_counts_each_of_its_lookups_in_redis(shared_redis):
    counts = Limiter("lookuplimit", "5/minute", RedisStore(shared_redis.url))
    client = next(CLIENTS)
    first = counts.hit(client, time.monotonic(), cost=3)
    second = counts.hit(client, time.monotonic(), cost=3)
    assert (first.granted, second.granted, second.remaining) == (3, 2, 0)
    stored = redis.Redis.from_url(shared_redis.url)
    assert stored.zcard(f"lookuplimit:{client}:60") == 5
    assert counts.in_worker.stored == 0


def test_one_client_past_the_times_bound_is_still_counted():
    """Only others are forgotten to make room: a client alone is kept."""
    counts = WorkerCounts([Window(10, 60)], max_clients=10, max_times=2)
    remaining = [counts.hit("a", float(n)).remaining for n in range(4)]
    assert remaining == [9, 8, 7, 6]


def test_exactly_the_times_bound_forgets_no_one():
    counts = WorkerCounts([Window(10, 60)], max_clients=10, max_times=2)
    counts.hit("a", 0.0)
    counts.hit("b", 1.0)  # two times held: at the bound, not past it
    assert counts.hit("a", 2.0).remaining == 8  # "a" was remembered


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


def test_redis_back_is_used_again_at_once(shared_redis):
    store = RedisStore(shared_redis.url)
    store.failed(ConnectionError(), 10.0)
    assert not store.usable(10.5)
    assert store.usable(11.0)
    store.answered(10.2)
    assert store.usable(10.3)
    assert store.retry_in == 1


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


def test_a_redis_that_answers_is_not_said_to_have_recovered(shared_redis, caplog):
    counts = Limiter("ratelimit", "5/minute", RedisStore(shared_redis.url))
    assert counts.hit(next(CLIENTS), time.monotonic()).remaining == 4
    assert caplog.records == []


def test_the_app_counts_in_redis_when_given_one(make_app, shared_redis):
    client = make_app(RATE_LIMIT="5/minute", REDIS_URL=shared_redis.url).test_client()
    address = next(CLIENTS)
    answer = client.get("/api/ip", environ_base={"REMOTE_ADDR": address})
    assert answer.headers["X-RateLimit-Remaining"] == "4"
    stored = redis.Redis.from_url(shared_redis.url)
    assert stored.zcard(f"ratelimit:{address}:60") == 1


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


@pytest.mark.parametrize(
    ("everything", "lookups", "batch", "told"),
    [
        ("3/minute", "100/minute", 2, "3"),  # 2 left of 3, against 98 of 100
        ("4/minute", "5/minute", 2, "4"),  # 3 left of each: the first stands
        ("100/minute", "3/minute", 2, "3"),
    ],
)
def test_a_batch_tells_the_tighter_allowance(
    make_app, everything, lookups, batch, told
):
    client = make_app(RATE_LIMIT=everything, LOOKUP_RATE_LIMIT=lookups).test_client()
    answer = client.post(
        "/api/lookup",
        json=["9.9.9.9"] * batch,
        environ_base={"REMOTE_ADDR": next(CLIENTS)},
    )
    assert answer.status_code == 200
    assert answer.headers["X-RateLimit-Limit"] == told


def test_a_batch_with_no_room_is_refused_and_says_whose_allowance(make_app):
    client = make_app(LOOKUP_RATE_LIMIT="2/minute").test_client()
    ipv6 = {"REMOTE_ADDR": "2001:db8:1:2::7"}
    first = client.post("/api/lookup", json=["9.9.9.9"] * 3, environ_base=ipv6)
    assert first.json[2]["error"]["message"].startswith(
        "Too many lookups of other addresses from 2001:db8:1:2::/64: the limit "
        "is 2/minute."
    )
    refused = client.post("/api/lookup", json=["9.9.9.9"], environ_base=ipv6)
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["X-RateLimit-Scope"] == "2001:db8:1:2::/64"


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
