"""Shared fixtures: the app from its factory with Flask's test client, asking
the real sources of the stand-ins (tests/client/ overrides them with fakes),
and the site booted from its Procfile. The tests are in folders by level:
unit/ (no app, no daemon), client/ (the test client with fake sources),
integration/ (real sources against dnsmasq, redis-server and the stand-in
registries), booted/ (gunicorn from the Procfile) and browser/ (Chromium)."""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from support.registries import stand_in_registries
from support.router import Router
from support.scratch import scratch_folder
from support.serving import (
    DnsServer,
    RedisServer,
    Server,
    SilentResolver,
    SlowResolver,
    stand_in_city_database,
)
from whatismyip import create_app
from whatismyip.config import parse_resolvers, settings_from_environment
from whatismyip.web.static_files import collect_static

# Hypothesis keeps caches beside the tests unless told otherwise; a test run
# leaves the working tree as it found it.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", str(scratch_folder("hypothesis-"))
)


# What the fast layers (`make test-fast`) may never start.
DAEMONS = {"dns_server", "shared_redis", "registries", "start_server", "slow"}
FAST_LAYERS = ("unit", "client")


def pytest_collection_modifyitems(items):
    """Marks every test that boots the Procfile's web line, those of the booted
    and browser layers and any other (`make mutants` leaves them out, since a
    mutant is switched on within the test's own process, never in a server's),
    and refuses a test in a fast layer that would start a daemon."""
    for item in items:
        layer = item.path.parent.name
        if layer == "browser":
            item.add_marker(pytest.mark.browser)
        if layer in ("booted", "browser") or "start_server" in item.fixturenames:
            item.add_marker(pytest.mark.server)
        started = DAEMONS & set(item.fixturenames)
        if layer in FAST_LAYERS and started:
            raise pytest.UsageError(
                f"{item.nodeid} starts {', '.join(sorted(started))}: it belongs "
                "in tests/integration or tests/booted"
            )


@pytest.fixture(autouse=True)
def empty_caches():
    """Each test starts with the package's per-worker caches empty, as a new
    worker does: no test leans on what another left, and `make mutants` sees
    every test that reaches a cached function, not only the first. The static
    build is kept: it is the same for every app, and costs a fifth of a
    second each time."""
    for name, module in list(sys.modules.items()):
        if name.startswith("whatismyip"):
            for value in vars(module).values():
                if hasattr(type(value), "cache_clear") and value is not collect_static:
                    value.cache_clear()


@pytest.fixture(scope="session")
def registries():
    """Stand-ins for IANA's RDAP bootstrap and the five registries."""
    return stand_in_registries()


@pytest.fixture
def nothing_unforeseen(caplog):
    """Every misbehaviour the stand-in registries stage is one the site
    foresaw: none ends in the catch-all for errors no code path expected."""
    yield
    # In teardown, caplog.messages holds teardown's records only.
    said = [r.getMessage() for r in caplog.get_records("call")]
    assert not [m for m in said if m.startswith("RDAP answer about")]


@pytest.fixture
def silent():
    """A resolver that takes every question and never answers."""
    resolver = SilentResolver()
    yield resolver
    resolver.close()


@pytest.fixture
def slow(dns_server):
    """The test DNS server, answering 100 ms late."""
    resolver = SlowResolver(dns_server)
    yield resolver
    resolver.close()


@pytest.fixture(scope="session")
def dns_server(tmp_path_factory):
    """The one resolver every app and server in the tests asks: nothing leaves
    this machine."""
    server = DnsServer(tmp_path_factory.mktemp("dns"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory):
    """A redis-server of the tests' own, as Heroku Key-Value Store is to dynos."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_settings():
    """As `make run` builds the app, whatever the shell running the tests has
    set, with nothing outside the process to ask."""
    return {
        **settings_from_environment({}),
        # On by default (60/minute), which tests that look up many addresses
        # from one client would reach; tests of the limit set it.
        "LOOKUP_RATE_LIMIT": None,
        "DNS_RESOLVER": [],
    }


@pytest.fixture(scope="session")
def local_settings(base_settings, dns_server, registries):
    """The app asking the tests' own resolver, registries and location
    database."""
    return {
        **base_settings,
        "DNS_RESOLVER": parse_resolvers(dns_server.address),
        "GEO_DB": stand_in_city_database(),
        "RDAP_BOOTSTRAP_URL": registries.bootstrap_url,
        "RDAP_TIMEOUT": 1.0,
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
