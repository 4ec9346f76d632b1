# gunicorn settings for `python site.py`. Heroku's GUNICORN_CMD_ARGS overrides them.
import os
import signal

import gevent

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
# waiting and never yields, so the worker's other connections starve; yielding
# after each request lets them in (docs/performance.md, figures from comments).
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
# gunicorn parse each request's peer address (docs/performance.md, third levers).
forwarded_allow_ips = "*"
secure_scheme_headers = {}
forwarder_headers = ""

# Heroku collects stdout. Query strings can carry secrets, so the access log
# has the path only, with the router's request id to match our line to its own
# (whatismyip/web/access_log.py writes these lines to stdout itself). Named by
# its module, which imports nothing of the app: the master loads it.
accesslog = "-"
logger_class = "whatismyip.web.access_log.RequestLog"

# Nothing on a dyno can reach gunicorn's control socket, and servers started
# side by side would fight over its one path under $HOME.
control_socket_disable = True
