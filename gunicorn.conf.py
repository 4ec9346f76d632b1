# gunicorn settings for `python site.py`. Heroku's GUNICORN_CMD_ARGS overrides them.
import os

import gevent
from gunicorn.glogging import Logger

# Heroku says which port to listen on; its router reaches us on any interface.
bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"

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

# Which forwarded headers to believe is decided by the app (TRUSTED_PROXY_HOPS);
# gunicorn would trust them from any peer, as Heroku sets FORWARDED_ALLOW_IPS='*'.
forwarded_allow_ips = ""
secure_scheme_headers = {}

# Heroku collects stdout. Query strings can carry secrets, so log the path only,
# with the router's request id to match our line to its own.
accesslog = "-"


class RequestLog(Logger):
    """The access line from its five fields: gunicorn's own formatter first maps
    every header and environ variable, which cost 15% of a worker's time."""

    def access(self, resp, req, environ, request_time):
        if self.access_log_enabled:
            self.access_log.info(
                '%s "%s %s HTTP/%s.%s" %s %s %dms',
                environ.get("HTTP_X_REQUEST_ID", "-"),
                req.method,
                req.path,
                *req.version,
                resp.status_code,
                resp.sent,
                request_time.total_seconds() * 1000,
            )


logger_class = RequestLog

# Nothing on a dyno can reach gunicorn's control socket, and servers started
# side by side would fight over its one path under $HOME.
control_socket_disable = True
