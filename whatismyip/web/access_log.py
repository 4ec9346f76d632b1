"""The access log: one line a request, with the router's request id to match
our line to its own, and the path only (query strings can carry secrets).
gunicorn.conf.py names this logger; it imports nothing of the app, since the
master loads it."""

import contextlib
import os
import re
from typing import Any

from gunicorn.glogging import Logger

# Heroku's request ids: 20 to 200 characters of these. Anything else is the
# client's own text, which must not start a log line.
REQUEST_ID = re.compile(r"[A-Za-z0-9+/=-]{20,200}")
# What a path may show as it is; anything else (quotes, control characters)
# is written as an escape, so no client can forge or break a line.
UNSAFE_IN_LOG = re.compile(r"[^\x21\x23-\x5b\x5d-\x7e]")


# Enough of a path to know it; the cap keeps every line one atomic write.
PATH_IN_LOG = 1024
STDOUT, STDERR = 1, 2


def log_safe(text: str) -> str:
    return UNSAFE_IN_LOG.sub(lambda match: f"\\x{ord(match[0]):02x}", text)


def request_id(environ: dict[str, Any]) -> str:
    value = environ.get("HTTP_X_REQUEST_ID", "")
    return value if REQUEST_ID.fullmatch(value) else "-"


def write_line(line: bytes) -> None:
    """All of a line, as Python's file objects write what gunicorn's own log
    sends: a short write (a signal, a full pipe) is followed by the rest. A
    write that fails loses that line, said once on stderr, never the request."""
    view = memoryview(line)
    try:
        while view:
            view = view[os.write(STDOUT, view) :]
    except OSError as error:
        with contextlib.suppress(OSError):
            os.write(STDERR, f"Access log line lost: {error.strerror}\n".encode())


def body_bytes(resp: Any, req: Any, status: str) -> int:
    """The body's bytes sent. gunicorn counts what it writes, but not a file it
    hands to sendfile (whitenoise's static files): that body's length is the
    Content-Length it announced, unless the answer has no body (HEAD, 304)."""
    sent: int = resp.sent
    if sent or req.method == "HEAD" or status in ("204", "304"):
        return sent
    announced: int | None = resp.response_length
    return announced or 0


class RequestLog(Logger):  # type: ignore[misc]
    """The access line from its five fields, written to stdout in one write: no
    formatter (gunicorn's maps every header and environ variable first) and no
    logging lock. A write of a line this short is atomic, so the workers' lines
    never interleave."""

    def access(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any
    ) -> None:
        if self.access_log_enabled:
            major, minor = req.version
            # resp.status: gunicorn's own error answers never set status_code.
            status = str(resp.status).partition(" ")[0]
            milliseconds = int(request_time.total_seconds() * 1000)
            line = (
                f'{request_id(environ)} "{log_safe(req.method)} '
                f'{log_safe(req.path)[:PATH_IN_LOG]} HTTP/{major}.{minor}" '
                f"{status} {body_bytes(resp, req, status)} {milliseconds}ms\n"
            )
            write_line(line.encode())
