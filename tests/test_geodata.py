"""Where an address is: the location fields from a database in DB-IP's layout
(built by the tests), `make geodata` and bin/post_compile against a stand-in
for DB-IP's download server on loopback, and the site with and without the
file."""

import datetime
import gzip
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import BROWSER, CURL
from serving import ROOT, stand_in_city_database
from whatismyip.geodata import months
from whatismyip.location import location_facts

THIS_MONTH, LAST_MONTH = months(datetime.date.today())
# The Python running the tests, as `python` for bin/post_compile.
PYTHON_BIN = os.path.dirname(sys.executable)


# --- The fields -------------------------------------------------------------------


def test_a_located_address_has_its_place_and_time_zone(client):
    facts = client.get("/api/lookup/193.0.6.139").json
    assert {field: facts[field] for field in LOCATED} == {
        "city": "Amsterdam",
        "region": "North Holland",
        "geo_country": "NL",
        "latitude": 52.3676,
        "longitude": 4.9041,
        "time_zone": "Europe/Amsterdam",
        "geo_source": {"name": "DB-IP IP to City Lite", "month": THIS_MONTH},
    }
    assert facts["country"] == "NL"  # registered there too
    assert facts["unavailable"] == []


LOCATED = ["city", "region", "geo_country", "latitude", "longitude", "time_zone"]
LOCATED.append("geo_source")


def test_registered_and_located_are_told_apart(client):
    facts = client.get("/api/lookup/1.1.1.1").json
    assert (facts["country"], facts["geo_country"]) == ("AU", "US")
    page = client.get("/lookup?address=1.1.1.1", headers=BROWSER).text
    assert "Los Angeles, California," in page
    assert "United States</span> <span class=\"note\">(its block is registered " \
        "to Australia)" in page  # fmt: skip
    assert (
        '<a href="https://www.openstreetmap.org/?mlat=34.0522&amp;mlon=-118.2437'
        '#map=10/34.0522/-118.2437">'
    ) in page
    assert 'IP Geolocation by <a href="https://db-ip.com">DB-IP</a>' in page
    assert "(America/Los_Angeles)" in page


def test_a_country_alone_is_all_that_is_said(client):
    facts = client.get("/api/lookup/9.9.9.9").json
    assert facts["geo_country"] == "CH"
    assert [facts[field] for field in LOCATED[:1] + LOCATED[3:6]] == [None] * 4


def test_private_addresses_get_nulls_without_a_lookup(client):
    facts = client.get("/api/lookup/10.1.2.3").json
    assert [facts[field] for field in LOCATED[:6]] == [None] * 6
    assert facts["unavailable"] == []


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/city", 200, "Mountain View\n"),
        ("/region", 200, "California\n"),
        ("/coordinates", 200, "37.4056,-122.0775\n"),
        ("/timezone", 200, "America/Los_Angeles\n"),
        ("/193.0.6.139/timezone", 200, "Europe/Amsterdam\n"),
        ("/9.9.9.9/city", 404, "No city is known for 9.9.9.9."),
        ("/9.9.9.9/coordinates", 404, "No location is known for 9.9.9.9."),
    ],
)
def test_text_routes_for_scripts(client, path, status, text):
    answer = client.get(path, headers=CURL, environ_base={"REMOTE_ADDR": "8.8.8.8"})
    assert answer.status_code == status
    assert text in answer.text


def test_without_the_database_location_is_unavailable_and_said(make_app, tmp_path):
    client = make_app(GEO_DB=tmp_path / "none.mmdb").test_client()
    facts = client.get("/api/lookup/8.8.8.8").json
    assert facts["geo_source"] is None
    assert facts["unavailable"] == LOCATED[:6]
    answer = client.get("/city", headers=CURL, environ_base={"REMOTE_ADDR": "8.8.8.8"})
    assert answer.status_code == 503
    assert "no location database installed" in answer.text
    page = client.get("/lookup?address=8.8.8.8", headers=BROWSER).text
    assert "No location database is installed" in page


def test_a_file_that_is_no_database_is_said_and_not_used(make_app, tmp_path, caplog):
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"not an mmdb file")
    client = make_app(GEO_DB=broken).test_client()
    assert client.get("/api/lookup/8.8.8.8").json["geo_source"] is None
    assert "cannot be read (InvalidDatabaseError)" in caplog.text


def test_location_can_be_turned_off(make_app):
    client = make_app(LOOKUPS=frozenset({"country"})).test_client()
    answer = client.get("/city", headers=CURL, environ_base={"REMOTE_ADDR": "8.8.8.8"})
    assert answer.status_code == 404
    assert "does not look up the city" in answer.text


def test_a_record_without_coordinates_has_no_time_zone():
    assert location_facts({"location": {"latitude": 1.5}})["time_zone"] is None
    assert location_facts(None) == dict.fromkeys(LOCATED[:6])


def test_months_to_try():
    assert months(datetime.date(2026, 1, 3)) == ["2026-01", "2025-12"]
    assert months(datetime.date(2026, 3, 31)) == ["2026-03", "2026-02"]


# --- make geodata and bin/post_compile ----------------------------------------------


class Downloads(http.server.BaseHTTPRequestHandler):
    """DB-IP's download server, as far as the tests need it: `files` maps a
    path to the bytes it serves; anything else is a 404."""

    files: dict[str, bytes] = {}

    def do_GET(self):
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def downloads():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Downloads)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def packed() -> bytes:
    return gzip.compress(stand_in_city_database().read_bytes())


def geodata(url: str, destination, command=("-m", "whatismyip.geodata"), *extra):
    return subprocess.run(
        [sys.executable, *command, *extra],
        cwd=ROOT,
        env={"GEO_DB": str(destination), "GEO_DB_URL": url, "PATH": PYTHON_BIN},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def template(server) -> str:
    return f"http://127.0.0.1:{server.server_port}/dbip-city-lite-{{month}}.mmdb.gz"


def test_make_geodata_installs_this_months_file(downloads, tmp_path):
    Downloads.files = {f"/dbip-city-lite-{THIS_MONTH}.mmdb.gz": packed()}
    destination = tmp_path / "geodata" / "dbip-city-lite.mmdb"
    result = geodata(template(downloads), destination)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"Installed DB-IP IP to City Lite of {THIS_MONTH} at {destination}\n"
    )
    assert destination.read_bytes() == stand_in_city_database().read_bytes()
    assert [path.name for path in destination.parent.iterdir()] == [destination.name]


def test_before_this_months_file_is_out_last_months_is_installed(downloads, tmp_path):
    Downloads.files = {f"/dbip-city-lite-{LAST_MONTH}.mmdb.gz": packed()}
    result = geodata(template(downloads), tmp_path / "city.mmdb")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "city.mmdb").exists()


def test_a_truncated_download_leaves_the_installed_file_alone(downloads, tmp_path):
    whole = packed()
    Downloads.files = {
        f"/dbip-city-lite-{month}.mmdb.gz": whole[: len(whole) // 2]
        for month in (THIS_MONTH, LAST_MONTH)
    }
    destination = tmp_path / "city.mmdb"
    destination.write_bytes(b"the file installed last month")
    result = geodata(template(downloads), destination)
    assert result.returncode == 1
    assert result.stderr == (
        "Location database not installed: the download ended before the end of "
        "the file; the download ended before the end of the file\n"
    )
    assert destination.read_bytes() == b"the file installed last month"
    assert [path.name for path in tmp_path.iterdir()] == ["city.mmdb"]


def test_a_file_that_is_not_a_database_is_not_installed(downloads, tmp_path):
    Downloads.files = {f"/dbip-city-lite-{THIS_MONTH}.mmdb.gz": gzip.compress(b"x")}
    result = geodata(template(downloads), tmp_path / "city.mmdb")
    assert result.returncode == 1
    assert "not a location database" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_server_that_never_answers_is_given_up_on_in_bounded_time(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/city-{{month}}.mmdb.gz"
        began = time.monotonic()
        result = geodata(url, tmp_path / "city.mmdb", ("-m", "whatismyip.geodata"),
                         "--timeout", "1")  # fmt: skip
        took = time.monotonic() - began
    assert result.returncode == 1
    assert "ReadTimeout" in result.stderr
    assert took < 10, f"took {took:.1f} s for two tries of a second each"


def test_no_network_is_said_in_a_line(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    result = geodata(f"http://127.0.0.1:{port}/{{month}}.gz", tmp_path / "city.mmdb")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "ConnectionError" in result.stderr


def post_compile(url: str, destination):
    """bin/post_compile as the buildpack runs it, with `python` on the PATH."""
    return subprocess.run(
        ["bash", ROOT / "bin" / "post_compile"],
        cwd=ROOT,
        env={
            "GEO_DB": str(destination),
            "GEO_DB_URL": url,
            "PATH": f"{PYTHON_BIN}:/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_post_compile_installs_the_file_into_the_slug(downloads, tmp_path):
    Downloads.files = {f"/dbip-city-lite-{THIS_MONTH}.mmdb.gz": packed()}
    destination = tmp_path / "slug" / "geodata" / "dbip-city-lite.mmdb"
    result = post_compile(template(downloads), destination)
    assert result.returncode == 0, result.stderr
    assert destination.exists()


def test_a_failed_download_never_fails_the_build(downloads, tmp_path):
    Downloads.files = {}
    result = post_compile(template(downloads), tmp_path / "city.mmdb")
    assert result.returncode == 0
    assert "answered 404" in result.stderr
    assert "The site will run without location" in result.stdout


# --- The site booted, with the file and without ------------------------------------


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
