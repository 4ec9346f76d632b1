"""The test-client layer: the app from its factory with in-memory fake sources
(support/sources.py) in place of the real ones, so no daemon is started."""

import pytest

from support.sources import fake_sources
from whatismyip import create_app


@pytest.fixture(scope="session")
def local_settings(base_settings):
    """Nothing is asked: the sources are fakes."""
    return base_settings


@pytest.fixture(scope="session")
def make_app(local_settings):
    """The app from its factory, with `settings` over the local ones and fresh
    fake sources."""
    return lambda **settings: create_app(
        {**local_settings, **settings}, sources=fake_sources()
    )
