"""Who runs a network, from a booted worker: the registries asked over TLS
while the worker answers others meanwhile."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from support.serving import wait_for

# Every test here: no registry answer ends in the catch-all.
pytestmark = pytest.mark.usefixtures("nothing_unforeseen")


def test_booted_one_worker_asks_registries_over_tls_and_answers_meanwhile(
    start_server, registries
):
    server = start_server(WEB_CONCURRENCY="1", RDAP_TIMEOUT="2")
    answer = requests.get(f"{server.url}/api/owner/193.0.6.139", timeout=10).json()
    assert answer["registry"] == "RIPE NCC"
    assert answer["source"].startswith("https://")
    with ThreadPoolExecutor(max_workers=1) as pool:
        silent = f"{server.url}/api/owner/5.5.5.10"  # a registry that hangs
        hanging = pool.submit(requests.get, silent, timeout=10)
        wait_for(lambda: registries.asked["/silent/ip/5.5.5.10"], what="the question")
        started = time.monotonic()
        assert requests.get(f"{server.url}/api/ip", timeout=10).status_code == 200
        assert time.monotonic() - started < 0.5  # not queued behind the registry
        assert hanging.result().json()["unavailable"] == ["owner"]
