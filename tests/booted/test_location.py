"""Location in the site booted from its Procfile: with the database and without
it, and the time zone finder built once, before the workers fork."""

from pathlib import Path

import requests

from support.clients import CURL

# The Python running the tests, as `python` for bin/post_compile.


def test_the_site_booted_with_the_file(start_server):
    server = start_server()  # the tests' database, as every server has
    answer = requests.get(f"{server.url}/1.1.1.1/city", headers=CURL, timeout=10)
    assert answer.text == "Los Angeles\n"


def test_the_site_booted_without_the_file_runs_and_says_so(start_server, tmp_path):
    server = start_server(GEO_DB=str(tmp_path / "none.mmdb"))
    report = requests.get(f"{server.url}/api/lookup/8.8.8.8", timeout=10).json()
    assert report["geo_source"] is None
    assert "city" in report["unavailable"]
    assert report["country"] == "US"  # everything else as before
    answer = requests.get(f"{server.url}/city", headers=CURL, timeout=10)
    assert answer.status_code == 503
    assert "No location database at" in server.log()


def maps_tzfpy(pid: int) -> bool:
    return "tzfpy" in Path(f"/proc/{pid}/maps").read_text()


def test_the_time_zone_finder_is_built_once_before_the_workers_fork(
    start_server, tmp_path
):
    """tzfpy's finder is about 30 MB: built in the master, its pages are shared
    by the workers (each worker's private memory measured 35 MB with it and 61
    MB when each built its own). Without a database no process loads it."""
    with_database = start_server(WEB_CONCURRENCY="2")
    assert maps_tzfpy(with_database.process.pid)
    without = start_server(WEB_CONCURRENCY="2", GEO_DB=str(tmp_path / "none.mmdb"))
    assert not maps_tzfpy(without.process.pid)
    assert not any(maps_tzfpy(worker) for worker in without.workers())
