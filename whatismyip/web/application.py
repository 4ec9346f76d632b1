"""The Flask app the site is: Flask less what never changes an answer here
(sessions, a coroutine check per view), with JSON written by orjson."""

from functools import lru_cache
from typing import Any

import orjson
from flask import Flask, Response, has_request_context, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import NullSession, SessionInterface

from .negotiation import is_command_line


class ReadableJSON(DefaultJSONProvider):
    """Indented for people at a terminal, compact for programs; written by orjson,
    byte for byte what the standard library's json module writes for these
    answers (strings, integers, booleans, null, lists and objects in order),
    several times faster."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, option=self._options(kwargs)).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = orjson.dumps(
            self._prepare_response_obj(args, kwargs),
            option=self._options({}) | orjson.OPT_APPEND_NEWLINE,
        )
        return Response(body, mimetype=self.mimetype)

    @staticmethod
    def _options(kwargs: dict[str, Any]) -> int:
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

    def open_session(self, app: Flask, request: Any) -> NullSession:
        return self.shared

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        """Never called: Flask saves no null session."""


class Site(Flask):
    """Flask, less two costs of every request that never change an answer here:
    building a session, and asking inspect.iscoroutinefunction of each view,
    hook and context processor (all plain functions, the same ones every
    time)."""

    session_interface = NoSessions()

    @lru_cache(maxsize=256)  # noqa: B019 (one app per worker, for its life)
    def ensure_sync(self, func: Any) -> Any:
        return super().ensure_sync(func)
