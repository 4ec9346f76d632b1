"""Rate limits' counting, with no server: the moving windows in a worker, the
decisions and what the answer tells, and who one client is."""

import ipaddress
import math
import time

import pytest

from whatismyip.web.rate_limits import (
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


def test_of_equally_tight_windows_the_longer_wait_is_told():
    windows = [Window(5, 1), Window(5, 60)]
    decision = decide(windows, [(2, 100.0), (2, 100.0)], now=100.5)
    assert (decision.remaining, decision.reset_after) == (2, 59.5)


def test_every_window_needs_its_count():
    with pytest.raises(ValueError, match="zip"):
        decide([Window(5, 1), Window(5, 60)], [(0, 0.0)], now=0.0)


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
