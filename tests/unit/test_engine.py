"""The engine every source is asked through: budgets kept apart for own and
other addresses, one question in flight per address and source, a bounded
cache of answers (never of failures), the deadline, and the catch-all that
turns what no source foresaw into `unavailable` with one log line."""

import ipaddress
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from whatismyip.sources.base import Answer, Budget, Source, Unavailable
from whatismyip.sources.engine import HANDOVER, Engine, TTLCache, Upstream

ADDRESS = ipaddress.ip_address("192.0.2.1")


class Counting(Source):
    """Answers {"n": how many times it was asked}, after `delay` seconds."""

    name = "counting"
    fields = ("n",)
    empty = {"n": None}
    label = "Counting"
    budget = Budget("counting", own=2, other=1)
    timeout = 0.5

    def __init__(self, delay=0.0, ttl=60.0, error=None, unanswered=()):
        self.delay, self.ttl, self.error = delay, ttl, error
        self.unanswered = unanswered
        self.asked = 0
        self.deadlines = []
        self.lock = threading.Lock()

    def ask(self, address, deadline):
        with self.lock:
            self.asked += 1
            asked = self.asked
            self.deadlines.append(deadline)
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return Answer({"n": asked}, self.unanswered, ttl=self.ttl)


def test_an_answer_is_kept_for_its_ttl_and_used_without_asking_again():
    source = Counting()
    engine = Engine([source])
    for _ in range(2):
        assert engine.start("counting", ADDRESS, own=True).result().found == {"n": 1}
    assert source.asked == 1


def test_an_answer_past_its_ttl_is_asked_again():
    source = Counting(ttl=0.05)
    engine = Engine([source])
    engine.start("counting", ADDRESS, own=True).result()
    time.sleep(0.1)
    assert engine.start("counting", ADDRESS, own=True).result().found == {"n": 2}


def test_a_partial_answer_is_never_kept_whatever_its_ttl():
    source = Counting(unanswered=("m",))
    engine = Engine([source])
    for _ in range(2):
        assert engine.start("counting", ADDRESS, own=True).result().unanswered == ("m",)
    assert source.asked == 2


def test_a_question_is_due_a_little_before_its_callers_stop_waiting():
    """It hands back what it found (a partial answer) before the deadline."""
    source = Counting()
    before = time.monotonic()
    Engine([source]).start("counting", ADDRESS, own=True).result()
    after = time.monotonic()
    handover = min(HANDOVER, source.timeout / 4)
    (deadline,) = source.deadlines
    assert before + source.timeout - handover <= deadline
    assert deadline <= after + source.timeout - handover


def test_a_failure_is_never_kept():
    source = Counting(error=Unavailable())
    engine = Engine([source])
    for _ in range(2):
        assert engine.start("counting", ADDRESS, own=True).result() is None
    assert source.asked == 2
    assert len(engine.caches["counting"]) == 0


def test_concurrent_askers_of_one_address_share_one_question():
    source = Counting(delay=0.2)
    engine = Engine([source])
    start = threading.Barrier(6)

    def ask(_):
        start.wait()
        return engine.start("counting", ADDRESS, own=True).result()

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert {answer.found["n"] for answer in pool.map(ask, range(6))} == {1}
    assert source.asked == 1
    assert engine.in_flight == {}


def test_other_addresses_never_take_the_room_of_visitors_own():
    source = Counting(delay=0.3)
    engine = Engine([source])
    others = [
        engine.start("counting", ipaddress.ip_address(f"192.0.2.{n}"), own=False)
        for n in range(10, 13)
    ]
    # One place for others: the first is asked, the rest unavailable at once.
    assert [isinstance(p.started, Future) for p in others] == [True, False, False]
    assert [p.result() for p in others[1:]] == [None, None]
    own = engine.start("counting", ipaddress.ip_address("192.0.2.99"), own=True)
    assert own.result() is not None


def test_a_patient_caller_waits_for_room_no_longer_than_its_deadline():
    source = Counting(delay=3.0)
    engine = Engine([source])
    engine.start("counting", ipaddress.ip_address("192.0.2.30"), own=False)
    started = time.monotonic()
    waited = engine.start(
        "counting", ipaddress.ip_address("192.0.2.31"), own=False, patient=True
    )
    assert time.monotonic() - started < source.timeout + 0.2
    assert waited.result() is None


def test_a_patient_caller_waits_for_room_until_its_deadline():
    source = Counting(delay=0.1)
    engine = Engine([source])
    first = engine.start("counting", ipaddress.ip_address("192.0.2.20"), own=False)
    waited = engine.start(
        "counting", ipaddress.ip_address("192.0.2.21"), own=False, patient=True
    )
    assert first.result() is not None
    assert waited.result() is not None


def test_a_source_hanging_past_its_deadline_is_unavailable_at_the_deadline():
    """The wait has a limit of its own: a source that ignores its deadline
    (a library that overruns, a stuck call) never holds the answer."""
    source = Counting(delay=3.0)
    engine = Engine([source])
    started = time.monotonic()
    (answers,) = engine.answers([ADDRESS], own=True, names=["counting"])
    took = time.monotonic() - started
    assert answers == {"counting": None}
    assert source.timeout <= took < source.timeout + 0.3


def test_one_answer_waited_for_is_unavailable_at_its_deadline():
    """The owner card's way of asking (one source, then wait): the same limit
    of its own, however long the source hangs."""
    source = Counting(delay=3.0)
    pending = Engine([source]).start("counting", ADDRESS, own=True)
    started = time.monotonic()
    assert pending.result() is None
    assert time.monotonic() - started < source.timeout + 0.3


def test_what_no_source_foresaw_is_unavailable_with_one_log_line(caplog):
    engine = Engine([Counting(error=KeyError("surprise"))])
    assert engine.start("counting", ADDRESS, own=True).result() is None
    assert caplog.messages == [
        "Counting answer about 192.0.2.1 could not be read (KeyError)"
    ]


def test_a_source_not_ready_is_not_asked():
    class Resting(Counting):
        def ready(self, now):
            return False

    source = Resting()
    assert Engine([source]).start("counting", ADDRESS, own=True).result() is None
    assert source.asked == 0


def test_an_instant_source_is_called_directly_and_never_kept():
    class Instant(Counting):
        instant = True
        budget = None

    source = Instant()
    engine = Engine([source])
    for n in (1, 2):
        before = time.monotonic()
        assert engine.start("counting", ADDRESS, own=True).result().found == {"n": n}
        assert before + source.timeout <= source.deadlines[-1]
        assert source.deadlines[-1] <= time.monotonic() + source.timeout
    assert "counting" not in engine.caches


def test_without_sources_nothing_is_worth_waiting_for():
    assert Engine([]).retry_after(now=0.0) == 0.0


def test_the_cache_drops_the_least_recently_used_past_its_size():
    cache = TTLCache(2)
    kept = {key: Answer({"k": key}, ttl=60) for key in "abcd"}
    for key in "abc":
        cache.put(key, kept[key], now=0.0)
    assert cache.get("a", 1.0) is None
    assert cache.get("b", 1.0) == kept["b"]
    cache.put("d", kept["d"], now=1.0)  # "c" was used least recently
    assert [cache.get(k, 2.0) for k in "bcd"] == [kept["b"], None, kept["d"]]


def test_the_first_live_answer_among_the_keys_is_the_one_used():
    """A block's answer, else the address's own, as RDAP keeps them."""
    cache = TTLCache(4)
    cache.put("gone", Answer({"k": "gone"}, ttl=1), now=0.0)
    cache.put("own", Answer({"k": "own"}, ttl=60), now=0.0)
    assert cache.get(("missing", "own"), 5.0).found == {"k": "own"}
    assert cache.get(("gone", "own"), 5.0).found == {"k": "own"}
    assert len(cache) == 1  # the expired one went as it was passed


@pytest.mark.parametrize(("now", "kept"), [(9.999, True), (10.0, False)])
def test_an_answer_is_kept_until_exactly_its_ttl(now, kept):
    cache = TTLCache(2)
    cache.put("a", Answer({"k": "a"}, ttl=10), now=0.0)
    assert (cache.get("a", now) is not None) is kept


def test_an_upstream_pauses_and_gives_its_places():
    upstream = Upstream(1)
    assert upstream.enter(time.monotonic() + 1)
    started = time.monotonic()
    assert not upstream.enter(time.monotonic() + 0.05)  # its one place is taken
    assert time.monotonic() - started < 0.5  # and no longer than the deadline
    upstream.leave()
    upstream.pause(30, now=100.0)
    assert upstream.paused(129.9)
    assert not upstream.paused(130.0)
