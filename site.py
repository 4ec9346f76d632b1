"""The entry the Procfile runs: `python site.py` serves the site under gunicorn,
reading gunicorn.conf.py and GUNICORN_CMD_ARGS as the `gunicorn` command does.

`gunicorn site:app` cannot work: Python imports the standard library's `site`
module at start-up, so that name is taken before gunicorn looks.
"""

import gc
import logging
import os
import socket
import sys


def check_whole_number(name: str, default: str, lowest: int, highest: int):
    """A platform setting that must be a whole number: a wrong one stops the
    boot with one line, before any worker starts."""
    text = os.environ.get(name, default).strip()
    if not (text.isascii() and text.isdigit() and lowest <= int(text) <= highest):
        sys.exit(
            f"{name} must be a whole number from {lowest} to {highest}, not {text!r}"
        )


# Checked before gunicorn is imported: it reads WEB_CONCURRENCY as it loads,
# and a wrong one ends in its traceback. gunicorn.conf.py reads both checked.
check_whole_number("PORT", "5000", 1, 65535)
check_whole_number("WEB_CONCURRENCY", "2", 1, 64)

from gunicorn.app.base import Application  # noqa: E402
from gunicorn.errors import AppImportError, HaltServer  # noqa: E402


class SiteServer(Application):
    def init(self, parser, opts, args):
        if args:
            parser.error("the app is built in: pass options only")

    def load(self):
        """Runs in each worker, after gevent has patched it: the app and every
        client it creates (resolvers, pools, locks) belong to this worker alone."""
        from whatismyip import create_app
        from whatismyip.config import SettingError

        try:
            app = create_app()
        except SettingError as error:  # said plainly, and the server stops
            raise AppImportError(str(error)) from error
        # All there is now (modules, the app, its clients) lives as long as the
        # worker: frozen, it is never walked again by the garbage collector, whose
        # full collections otherwise hold up a request (docs/performance.md).
        gc.freeze()
        # What the app logs goes where gunicorn's own log goes.
        server_log = logging.getLogger("gunicorn.error")
        app.logger.handlers = server_log.handlers
        app.logger.setLevel(logging.INFO)
        app.logger.propagate = False
        server_log.info(
            "Built the app in worker %d (socket module: %s; %d objects frozen)",
            os.getpid(),
            socket.socket.__module__,
            gc.get_freeze_count(),
        )
        return app


def share_time_zones():
    """tzfpy's time zone finder (about 30 MB) is built here, in the master,
    before the workers fork, when a location database is there to be read:
    the workers then share its pages instead of each building its own. It
    holds no socket, lock or thread. Only tzfpy is imported: the app's package
    is imported in each worker, after gevent has patched it. A wrong guess
    here costs memory, never an answer: the workers read the settings."""
    lookups = os.environ.get("LOOKUPS", "all").lower()
    geo_db = os.environ.get("GEO_DB", "").strip() or DEFAULT_GEO_DB
    if ("all" in lookups or "location" in lookups) and os.path.isfile(geo_db):
        from tzfpy import get_tz

        get_tz(0.0, 0.0)


# config.DEFAULT_GEO_DB, without importing the app's package in the master.
DEFAULT_GEO_DB = os.path.join(
    os.path.dirname(__file__), "geodata", "dbip-city-lite.mmdb"
)


if __name__ == "__main__":
    share_time_zones()
    try:
        SiteServer("python site.py [OPTIONS]").run()
    except HaltServer as halt:
        # When several workers fail to boot at once (a setting the operator must
        # fix), gunicorn's master raises this again while stopping the rest; the
        # reason has been printed by the workers, so say it once, plainly.
        print(f"Stopped: {halt.reason}", file=sys.stderr)
        sys.exit(halt.exit_status)
