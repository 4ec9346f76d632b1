"""Shared fixtures: the app from its factory with Flask's test client, for what
needs no server; and the site booted from its Procfile, for what does."""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from registries import stand_in_registries
from router import Router
from scratch import scratch_folder
from serving import DnsServer, Server, stand_in_city_database
from whatismyip import create_app
from whatismyip.config import DEFAULT_GEO_DB_URL, parse_lookups, parse_resolvers

# Hypothesis keeps caches beside the tests unless told otherwise; a test run
# leaves the working tree as it found it.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", str(scratch_folder("hypothesis-"))
)

BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
}
CURL = {"User-Agent": "curl/8.5.0", "Accept": "*/*"}


def pytest_collection_modifyitems(items):
    """Marks every test that boots the Procfile's web line, besides the modules
    that only do (`make mutants` runs the rest, since a mutant is switched on
    within the test's own process)."""
    for item in items:
        if "start_server" in item.fixturenames:
            item.add_marker(pytest.mark.server)


@pytest.fixture(autouse=True)
def empty_caches():
    """Each test starts with the package's per-worker caches empty, as a new
    worker does: no test leans on what another left, and `make mutants` sees
    every test that reaches a cached function, not only the first."""
    for name, module in list(sys.modules.items()):
        if name.startswith("whatismyip"):
            for value in vars(module).values():
                if hasattr(type(value), "cache_clear"):  # functools' caches
                    value.cache_clear()


@pytest.fixture(scope="session")
def dns_server(tmp_path_factory):
    """The one resolver every app and server in the tests asks: nothing leaves
    this machine."""
    server = DnsServer(tmp_path_factory.mktemp("dns"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def local_settings(dns_server):
    """As `make run` builds the app, whatever the shell running the tests has set,
    with the tests' own location database."""
    return {
        "TRUSTED_PROXY_HOPS": 0,
        "STATIC_AUTOREFRESH": False,
        "RATE_LIMIT": None,
        # On by default (60/minute), which tests that look up many addresses
        # from one client would reach; tests of the limit set it.
        "LOOKUP_RATE_LIMIT": None,
        "RATE_LIMIT_IPV6_PREFIX": 64,
        "REDIS_URL": None,
        "LOOKUPS": parse_lookups(None),
        "DNS_RESOLVER": parse_resolvers(dns_server.address),
        "LOOKUP_TIMEOUT": 0.5,
        "GEO_DB": stand_in_city_database(),
        "GEO_DB_URL": DEFAULT_GEO_DB_URL,
        "RDAP_BOOTSTRAP_URL": stand_in_registries().bootstrap_url,
        "RDAP_TIMEOUT": 1.0,
        "IPV4_URL": None,
        "IPV6_URL": None,
    }


@pytest.fixture(scope="session")
def make_app(local_settings):
    """The app from its factory, with `settings` over the local ones."""
    return lambda **settings: create_app({**local_settings, **settings})


@pytest.fixture
def app(make_app):
    """As `make run` builds it: no proxy in front."""
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def dyno_client(make_app):
    """As a dyno builds it: Heroku's router is the one trusted proxy."""
    return make_app(TRUSTED_PROXY_HOPS=1).test_client()


@pytest.fixture(scope="session")
def start_server(tmp_path_factory, dns_server):
    """Boots a server with the given environment; all are stopped at the end."""
    servers = []

    def start(**options):
        log_path = tmp_path_factory.mktemp("dyno") / "server.log"
        options.setdefault("DNS_RESOLVER", dns_server.address)
        server = Server(log_path, **options)
        servers.append(server)
        return server

    yield start
    with ThreadPoolExecutor(max_workers=len(servers) or 1) as pool:  # all at once
        list(pool.map(Server.stop, servers))


@pytest.fixture(scope="session")
def local(start_server):
    """As `make run` starts it on a laptop: no proxy in front."""
    return start_server()


@pytest.fixture(scope="session")
def dyno(start_server):
    """With the environment Heroku gives a web dyno."""
    return start_server(DYNO="web.1", WEB_CONCURRENCY="2", FORWARDED_ALLOW_IPS="*")


@pytest.fixture(scope="session")
def heroku(dyno):
    """The dyno behind a stand-in for Heroku's router, reached over "https",
    appending to the first X-Forwarded-For header as Heroku's does."""
    router = Router(dyno.url, merge="first")
    yield router
    router.close()
