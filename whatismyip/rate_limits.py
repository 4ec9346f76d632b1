"""Rate limits per client address, with Flask-Limiter: counted in Redis when
REDIS_URL is set (shared by every worker and dyno), else in each worker."""

from flask import Flask, request

from . import visitor

# Flask-Limiter and redis-py are imported only when limits are on: most sites
# run without them, and importing them costs every worker's boot.

# What a web page may read of an answer from another origin (CORS).
ALLOWANCE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
)
# Answered whatever the load: uptime checks must not be refused.
UNLIMITED_ENDPOINTS = frozenset({"pages.healthz"})
# The longest a request waits for Redis before the limit is counted in the
# worker instead, so a slow or dead Redis never holds up an answer.
REDIS_TIMEOUT_SECONDS = 0.1


def redis_options(redis_url: str) -> dict:
    """redis-py settings for the limiter's connection pool."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options = {
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        # redis-py retries three times by default; one bounded try is the budget.
        "retry": Retry(NoBackoff(), 0),
    }
    if redis_url.startswith("rediss://"):
        # Heroku Key-Value Store's TLS certificates are self-signed; Heroku's
        # documentation says to connect without verifying them.
        options["ssl_cert_reqs"] = "none"
    return options


def client_key() -> str:
    """The address the site already trusts: X-Forwarded-For buys no allowance."""
    return str(visitor.address())


def init_app(app: Flask) -> None:
    """Limits every route but /healthz (static files never reach the app) when
    RATE_LIMIT is set. One allowance per address, across all routes; moving
    windows, so no burst at a window's edge passes twice the limit."""
    rate_limit = app.config["RATE_LIMIT"]
    if not rate_limit:
        return
    from flask_limiter import ApplicationLimit, HeaderNames, Limiter

    redis_url = app.config["REDIS_URL"]
    limiter = Limiter(
        client_key,
        application_limits=[
            ApplicationLimit(
                rate_limit,
                error_message=f"Too many requests from your address: the limit "
                f"is {rate_limit}. Retry-After says how many seconds to wait.",
            )
        ],
        strategy="moving-window",
        storage_uri=redis_url or "memory://",
        storage_options=redis_options(redis_url) if redis_url else {},
        # Redis down: count in this worker, log once, and look again for Redis
        # at growing intervals (Flask-Limiter's fallback); never fail a request.
        in_memory_fallback=[rate_limit] if redis_url else None,
        in_memory_fallback_enabled=bool(redis_url),
        swallow_errors=True,
        headers_enabled=True,
        header_name_mapping={
            HeaderNames.LIMIT: "X-RateLimit-Limit",
            HeaderNames.REMAINING: "X-RateLimit-Remaining",
            HeaderNames.RESET: "X-RateLimit-Reset",
            HeaderNames.RETRY_AFTER: "Retry-After",
        },
    )
    limiter.request_filter(lambda: request.endpoint in UNLIMITED_ENDPOINTS)
    # Registered first so that it runs after Flask-Limiter has added its headers.
    app.after_request(retry_after_only_when_refused)
    limiter.init_app(app)


def retry_after_only_when_refused(response):
    """Flask-Limiter sends Retry-After on every answer; a client polling us should
    not read it as a request to back off while it is within its allowance."""
    if response.status_code != 429:
        response.headers.pop("Retry-After", None)
    return response
