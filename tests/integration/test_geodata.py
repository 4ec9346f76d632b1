"""`make geodata` and bin/post_compile against a stand-in for DB-IP's download
server on loopback: this month's file or last month's, checked, moved into
place in one step, bounded in size and time, and never failing a build."""

import datetime
import gzip
import http.server
import socket
import threading
import time

import pytest

from support.city_database import geodata, post_compile
from support.serving import stand_in_city_database
from whatismyip.geodata import months

THIS_MONTH, LAST_MONTH = months(datetime.date.today())


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
