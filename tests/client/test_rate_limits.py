"""Rate limits through the test client, counted in the worker: the allowance's
headers, IPv6 clients by their prefix, what counts, and lookups' own allowance."""

import pytest

from support.clients import BROWSER, CLIENTS, as_client


def test_without_rate_limit_no_allowance_headers_are_sent(client):
    assert "X-RateLimit-Limit" not in client.get("/api/ip").headers


def test_the_limit_in_the_app_from_its_factory(make_app):
    client = make_app(RATE_LIMIT="2/minute").test_client()
    statuses = [client.get("/api/ip").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


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


def test_lookup_limit_off_when_set_empty(make_app):
    client = make_app(LOOKUP_RATE_LIMIT=None).test_client()
    answers = [client.get(f"/api/lookup/10.0.0.{n}") for n in range(70)]
    assert {answer.status_code for answer in answers} == {200}
    assert "X-RateLimit-Limit" not in answers[-1].headers


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
