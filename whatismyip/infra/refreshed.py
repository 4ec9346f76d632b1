"""Data fetched while the site runs and refreshed at an interval: the last good
copy is used until a new one is read, a failed fetch is tried again sooner,
and one thread fetches while the others wait, each up to its own deadline."""

import threading
import time
from collections.abc import Callable


class Refreshed[T]:
    """`fetch(deadline)` makes a new copy, or None when it could not; it is
    called when the copy is older than `ttl`, or than `retry` after a
    failure (when `failed(…)` is told)."""

    def __init__(
        self,
        fetch: Callable[[float], T | None],
        ttl: float,
        retry: float,
        failed: Callable[[], None] = lambda: None,
    ):
        self.fetch, self.ttl, self.retry, self.failed = fetch, ttl, retry, failed
        self.value: T | None = None
        self.expires = 0.0
        self.lock = threading.Lock()

    def get(self, deadline: float) -> T | None:
        """The copy, fetched first when it is due; None if there has never
        been a good one."""
        if time.monotonic() >= self.expires:
            self._refresh(deadline)
        return self.value

    def _refresh(self, deadline: float) -> None:
        if not self.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return
        try:
            if time.monotonic() < self.expires:  # fetched meanwhile
                return
            value = self.fetch(deadline)
            if value is not None:
                self.value = value
                self.expires = time.monotonic() + self.ttl
            else:
                self.failed()
                self.expires = time.monotonic() + self.retry
        finally:
            self.lock.release()
