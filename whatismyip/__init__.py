"""What is my IP: shows each visitor their address and the query-string arguments
of their request, as a page for people, JSON for scripts and text for terminals.

`create_app` builds the site; `site.py` serves it under gunicorn, one app per
worker, built after gevent has patched that worker.
"""

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import orjson
from flask import Flask, has_request_context, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import NullSession, SessionInterface

from . import lookups, owners, rate_limits, redis_store, security, static_files
from .api import api
from .config import settings_from_environment
from .negotiation import is_command_line
from .pages import link_the_pages, pages

# templates/ and static/ sit at the top of the repository, beside site.py.
ROOT = Path(__file__).resolve().parent.parent


class ReadableJSON(DefaultJSONProvider):
    """Indented for people at a terminal, compact for programs; written by orjson,
    byte for byte what the standard library's json module writes for these
    answers (strings, integers, booleans, null, lists and objects in order),
    several times faster."""

    def dumps(self, obj, **kwargs) -> str:
        return orjson.dumps(obj, option=self._options(kwargs)).decode()

    def response(self, *args, **kwargs):
        body = orjson.dumps(
            self._prepare_response_obj(args, kwargs),
            option=self._options({}) | orjson.OPT_APPEND_NEWLINE,
        )
        return self._app.response_class(body, mimetype=self.mimetype)

    @staticmethod
    def _options(kwargs) -> int:
        """Indented (as json.dumps(indent=2)) when asked, or for a terminal."""
        indent = kwargs.get("indent") or (
            has_request_context()
            and is_command_line(request.environ.get("HTTP_USER_AGENT", ""))
        )
        return orjson.OPT_INDENT_2 if indent else 0


class NoSessions(SessionInterface):
    """The site remembers nothing of a visitor between requests: it reads and
    sets no cookie. Every request shares one null session (which refuses
    writes) rather than having a cookie interface find there is no secret key
    and build its own."""

    shared = NullSession()

    def open_session(self, app, request):
        return self.shared

    def save_session(self, app, session, response):
        """Never called: Flask saves no null session."""


class Site(Flask):
    """Flask, less two costs of every request that never change an answer here:
    building a session, and asking inspect.iscoroutinefunction of each view,
    hook and context processor (all plain functions, the same ones every
    time)."""

    session_interface = NoSessions()

    @lru_cache(maxsize=256)  # noqa: B019 (one app per worker, for its life)
    def ensure_sync(self, func):
        return super().ensure_sync(func)


def create_app(config: Mapping | None = None) -> Flask:
    """The site, configured from the environment; `config` overrides any setting."""
    app = Site(__name__, root_path=str(ROOT), static_folder=None)
    app.config.from_mapping(settings_from_environment(os.environ))
    app.config.from_mapping(config or {})
    app.json = ReadableJSON(app)
    app.url_map.converters["address"] = lookups.AddressConverter
    app.register_blueprint(api)
    app.register_blueprint(pages)
    link_the_pages(app)
    redis_store.init_app(app)
    # The allowance's headers go inside the site's, so they come first, as
    # Flask's own headers do.
    rate_limits.init_app(app)
    security.init_app(app)
    lookups.init_app(app)
    owners.init_app(app)
    app.add_template_filter(lookups.flag)
    static_files.init_app(app)
    return app
