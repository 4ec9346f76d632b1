"""Stand-ins for the real parts the tests start (dnsmasq, redis-server, the
registries, Heroku's router, gunicorn booted from the Procfile, Chromium), the
location database they build, and in-memory fake sources: defined once, used
through the fixtures in tests/conftest.py and by the tools in tools/."""

from pathlib import Path

# The repository's root: the site's files, and where its commands run.
ROOT = Path(__file__).resolve().parents[2]
