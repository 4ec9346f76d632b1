"""Outbound HTTP (requests; cooperative under gevent), bounded: a deadline on
the whole exchange, redirects followed only where the caller allows, and at
most a given number of bytes read, counted as they arrive."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin

import requests

# Bytes read at a time from an answer.
CHUNK_BYTES = 64 * 1024


class Failed(Exception):  # noqa: N818 (a state of the exchange, not a bug)
    """No answer that could be used came before the deadline."""


@dataclass(frozen=True)
class Reply:
    status: int
    url: str  # where the answer came from, after redirects
    body: bytes  # read only for a 200
    retry_after: str | None = None


def session(user_agent: str, accept: str) -> requests.Session:
    """A worker's session: its connections are that worker's own."""
    made = requests.Session()
    made.headers.update({"Accept": accept, "User-Agent": user_agent})
    return made


def get(
    client: requests.Session,
    url: str,
    deadline: float,
    max_bytes: int,
    may_follow: Callable[[str], bool] | None = None,
    max_redirects: int = 3,
) -> Reply:
    """A GET before `deadline` (on the monotonic clock): redirects followed
    where `may_follow` allows the URL (none without it), the body of a 200
    read up to `max_bytes`. Failed otherwise."""
    for _ in range(max_redirects + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Failed
        try:
            response = client.get(
                url, timeout=remaining, allow_redirects=False, stream=True
            )
        except requests.RequestException:
            raise Failed from None
        with response:
            location = response.headers.get("Location")
            if response.is_redirect and location and may_follow is not None:
                url = urljoin(url, location)
                if not may_follow(url):
                    raise Failed
                continue
            if response.status_code != 200:
                return Reply(
                    response.status_code, url, b"", response.headers.get("Retry-After")
                )
            return Reply(200, url, read(response, deadline, max_bytes))
    raise Failed


def read(response: requests.Response, deadline: float, max_bytes: int) -> bytes:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise Failed
    body = bytearray()
    try:
        for chunk in response.iter_content(CHUNK_BYTES):
            body += chunk
            if len(body) > max_bytes or time.monotonic() > deadline:
                raise Failed
    except requests.RequestException:
        raise Failed from None
    return bytes(body)
