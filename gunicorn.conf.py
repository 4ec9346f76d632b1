# gunicorn settings for `python site.py`. Heroku's GUNICORN_CMD_ARGS overrides them.
import os

# Heroku says which port to listen on; its router reaches us on any interface.
bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"

# Heroku sizes WEB_CONCURRENCY to the dyno's memory; 2 suits the small ones.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

# Heroku's router keeps connections to the dyno open between requests; the sync
# worker closes every connection, while gthread keeps them and serves requests
# from a pool of threads, so one slow client does not hold up a whole worker.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# The router drops idle connections after 90 s; closing them first ourselves
# would race a request it has just sent down one (H18 errors).
keepalive = 95

# Heroku sends SIGTERM and then SIGKILL 30 s later: let requests in flight
# finish, but exit well before that.
graceful_timeout = 20

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
access_log_format = '%({x-request-id}i)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

# Nothing on a dyno can reach gunicorn's control socket, and servers started
# side by side would fight over its one path under $HOME.
control_socket_disable = True
