"""What is my IP: shows each visitor their address and the query-string arguments
of their request, as a page for people, JSON for scripts and text for terminals.

`create_app` builds the site; `site.py` serves it under gunicorn, one app per
worker, built after gevent has patched that worker. The package's modules are
imported there too, by create_app, never when the package itself is: the
gunicorn master imports the access logger (web/access_log.py) from it.

The layers, each importing only downward (pyproject.toml's contracts, checked
by `make lint`; docs/architecture.md):

    web/       blueprints, errors, templating, headers, limits, static files
    report.py  what we tell a visitor, from the request and the sources
    sources/   one Source shape, one engine, one module per source
    infra/, addresses.py   Redis, outbound HTTP, refreshed data; addresses
"""

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from .sources.base import Source

# templates/ and static/ sit at the top of the repository, beside site.py.
ROOT = Path(__file__).resolve().parent.parent


def create_app(
    config: Mapping[str, Any] | None = None, sources: "list[Source] | None" = None
) -> "Flask":
    """The site, configured from the environment; `config` overrides any
    setting, and `sources` (the tests' fakes) the sources LOOKUPS builds."""
    import os

    from .config import settings_from_environment
    from .infra.redis_store import RedisStore
    from .web import (
        errors,
        facts,
        rate_limits,
        security,
        static_files,
        templating,
    )
    from .web.api import api
    from .web.application import ReadableJSON, Site
    from .web.pages import pages
    from .web.routing import AddressConverter

    app = Site(__name__, root_path=str(ROOT), static_folder=None)
    app.config.from_mapping(settings_from_environment(os.environ))
    app.config.from_mapping(config or {})
    app.json = ReadableJSON(app)
    # The converter before the blueprints: their routes name it.
    app.url_map.converters["address"] = AddressConverter
    app.register_blueprint(api)
    app.register_blueprint(pages)
    errors.init_app(app)
    # After the blueprints: the templates' links are their routes.
    templating.init_app(app)
    # The worker's one Redis connection, if any, for the limits and the sources.
    store = RedisStore(app.config["REDIS_URL"]) if app.config["REDIS_URL"] else None
    facts.init_app(app, store, sources)
    # Middleware, innermost first: the allowance's headers go inside the
    # site's, so they come first, as Flask's own headers do; whitenoise
    # outermost, so static files never reach the app.
    rate_limits.init_app(app, store)
    security.init_app(app)
    static_files.init_app(app)
    return app
