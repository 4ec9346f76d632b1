# gunicorn settings for `python site.py`. Heroku's GUNICORN_CMD_ARGS overrides them.
import contextlib
import os
import re
import signal

import gevent
from gunicorn.glogging import Logger

# Heroku says which port to listen on. `[::]`, as Heroku's own template binds:
# one socket serves IPv6 and IPv4 alike, and IPv6-only hosts work too.
# PORT and WEB_CONCURRENCY are checked by site.py before gunicorn loads.
bind = f"[::]:{os.environ.get('PORT', '5000')}"

# Heroku sizes WEB_CONCURRENCY to the dyno's memory; 2 suits the small ones.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

# Heroku's router keeps connections to the dyno open between requests, and
# clients may be slow to send theirs: gevent serves each connection from a
# cheap greenlet, so neither ties up the worker (sync keeps no connections
# open; gthread's small thread pool is exhausted by a few slow clients).
worker_class = "gevent"
worker_connections = 1000


# A greenlet whose client sends its next request at once finds it already
# waiting and never yields, so the worker's other connections starve: p99 at 16
# connections was a second. Yielding after each request makes it 7 ms.
def post_request(worker, req, environ, resp):
    gevent.sleep(0)


FORWARDED_FOR = "X-FORWARDED-FOR"  # as gunicorn names headers


# Heroku's router appends the address it saw to the *first* X-Forwarded-For
# header and passes any later ones on as the client wrote them; gunicorn joins
# repeated headers in order, so a client sending two would put its own text at
# the end, where the site reads the router's entry. The first header goes last,
# so that its end (the router's entry) ends the joined value too; with one
# header, as any proxy that merges them sends, nothing moves.
def pre_request(worker, req):
    headers = req.headers
    if sum(name == FORWARDED_FOR for name, _ in headers) > 1:
        first = next(i for i, (name, _) in enumerate(headers) if name == FORWARDED_FOR)
        headers.append(headers.pop(first))


# Ctrl-C in a terminal signals every process of the group, workers too; the
# master then tells each worker to stop as well, and a worker stopped twice
# printed a traceback as it exited. Only the master answers Ctrl-C.
def post_worker_init(worker):
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# The router drops idle connections after 90 s; closing them first ourselves
# would race a request it has just sent down one (H18 errors).
keepalive = 95

# Heroku's router passes request lines of up to 8 KB: take query strings as
# long as it lets through (gunicorn's own maximum is 8190 bytes).
limit_request_line = 8190

# Heroku sends SIGTERM and then SIGKILL 30 s later. Requests here take
# milliseconds, but connections the router keeps idle hold a stopping worker
# until this runs out: long enough for any request, well inside the 30 s.
graceful_timeout = 10

# The router gives up on a request that has not started answering in 30 s;
# a worker silent for that long is stuck and is replaced.
timeout = 30

# Which forwarded headers to believe is decided by the app (TRUSTED_PROXY_HOPS),
# so gunicorn acts on none, from any peer: it is given no scheme headers and no
# forwarder headers (a client's SCRIPT_NAME would move the site's root). Every
# peer is "trusted" with that empty list because a list of trusted peers makes
# gunicorn parse each request's peer address: 12 us for the router's IPv4 on
# our IPv6 socket, 8 % of an /api/ip request.
forwarded_allow_ips = "*"
secure_scheme_headers = {}
forwarder_headers = ""

# Heroku collects stdout. Query strings can carry secrets, so log the path only,
# with the router's request id to match our line to its own. (RequestLog writes
# these lines to stdout itself.)
accesslog = "-"


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


def request_id(environ) -> str:
    value = environ.get("HTTP_X_REQUEST_ID", "")
    return value if REQUEST_ID.fullmatch(value) else "-"


def write_line(line: bytes):
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


def body_bytes(resp, req, status: str) -> int:
    """The body's bytes sent. gunicorn counts what it writes, but not a file it
    hands to sendfile (whitenoise's static files): that body's length is the
    Content-Length it announced, unless the answer has no body (HEAD, 304)."""
    if resp.sent or req.method == "HEAD" or status in ("204", "304"):
        return resp.sent
    return resp.response_length or 0


class RequestLog(Logger):
    """The access line from its five fields, written to stdout in one write: no
    formatter (gunicorn's maps every header and environ variable first) and no
    logging lock. A write of a line this short is atomic, so the workers' lines
    never interleave."""

    def access(self, resp, req, environ, request_time):
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


logger_class = RequestLog

# Nothing on a dyno can reach gunicorn's control socket, and servers started
# side by side would fight over its one path under $HOME.
control_socket_disable = True
