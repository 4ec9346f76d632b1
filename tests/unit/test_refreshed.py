"""Data refreshed while the site runs: the last good copy kept through failed
fetches, a failure tried again sooner than a success, and one fetch at a time
however many callers find the copy due."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from whatismyip.infra.refreshed import Refreshed


class Fetches:
    """Copies "v1", "v2", ... or None (a failed fetch) as `results` says."""

    def __init__(self, *results, delay=0.0):
        self.results = list(results)
        self.delay = delay
        self.calls = 0

    def __call__(self, deadline):
        self.calls += 1
        time.sleep(self.delay)
        return self.results.pop(0)


def soon():
    return time.monotonic() + 1


def test_a_copy_is_fetched_when_first_needed_and_kept_for_its_ttl():
    fetch = Fetches("v1", "v2")
    refreshed = Refreshed(fetch, ttl=60, retry=1)
    assert refreshed.get(soon()) == "v1"
    assert refreshed.get(soon()) == "v1"
    assert fetch.calls == 1


def test_a_failed_fetch_keeps_the_last_good_copy_and_is_tried_again_sooner():
    fetch = Fetches("v1", None, "v2")
    failures = []
    refreshed = Refreshed(fetch, ttl=0.05, retry=0.2, failed=lambda: failures.append(1))
    assert refreshed.get(soon()) == "v1"
    time.sleep(0.06)
    assert refreshed.get(soon()) == "v1"  # the fetch failed: the last good copy
    assert failures == [1]
    assert refreshed.get(soon()) == "v1"  # not tried again before `retry`
    assert fetch.calls == 2
    time.sleep(0.21)
    assert refreshed.get(soon()) == "v2"


def test_without_a_good_copy_there_is_none():
    assert Refreshed(Fetches(None), ttl=60, retry=60).get(soon()) is None


def test_callers_finding_the_copy_due_share_one_fetch():
    fetch = Fetches("v1", delay=0.2)
    refreshed = Refreshed(fetch, ttl=60, retry=60)
    start = threading.Barrier(5)

    def get(_):
        start.wait()
        return refreshed.get(soon())

    with ThreadPoolExecutor(max_workers=5) as pool:
        assert set(pool.map(get, range(5))) == {"v1"}
    assert fetch.calls == 1


def test_a_caller_waits_for_the_fetch_no_longer_than_its_deadline():
    fetch = Fetches("v1", delay=1.0)
    refreshed = Refreshed(fetch, ttl=60, retry=60)
    fetching = threading.Thread(target=refreshed.get, args=(time.monotonic() + 5,))
    fetching.start()
    time.sleep(0.05)
    started = time.monotonic()
    assert refreshed.get(time.monotonic() + 0.1) is None
    assert time.monotonic() - started < 0.5
    fetching.join()
