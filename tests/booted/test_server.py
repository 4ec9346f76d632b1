"""What only a booted server shows: the Procfile's web line under gunicorn, as a
dyno runs it, spoken to over HTTP."""

import http.client
import json
import re
import shutil
import signal
import subprocess
from urllib.parse import urlsplit

import pytest
import requests

from support.clients import CURL
from support.router import Router
from support.serving import BIN, ROOT, Server, send_raw, status_of, wait_for

JSON_ROUTES = ["/api", "/api/ip", "/api/args", "/api/headers", "/get_my_ip/"]


def exchange(url: str, method: str, path: str) -> tuple[int, dict, bytes]:
    """One HTTP/1.0 request, byte for byte: status, header fields and body."""
    answer = send_raw(url, f"{method} {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return status_of(answer), fields, body


@pytest.mark.parametrize(
    "path", ["/", "/ip", "/healthz", "/static/style.css", *JSON_ROUTES]
)
def test_head_answers_as_get_does_without_a_body(local, path):
    get_status, get_fields, get_body = exchange(local.url, "GET", path)
    head_status, head_fields, head_body = exchange(local.url, "HEAD", path)
    assert head_status == get_status == 200
    assert head_body == b""
    assert head_fields["Content-Type"] == get_fields["Content-Type"]
    assert head_fields["Content-Length"] == str(len(get_body))


def test_one_socket_serves_ipv4_and_ipv6(local):
    """The site binds [::], as Heroku's template does: both families reach it."""
    v4 = requests.get(f"{local.url}/api", timeout=10).json()
    v6 = requests.get(f"{local.url6}/api", timeout=10).json()
    assert (v4["ip"], v4["ip_version"]) == ("127.0.0.1", 4)  # not ::ffff:127.0.0.1
    assert (v6["ip"], v6["ip_version"]) == ("::1", 6)
    assert requests.get(local.url6, headers=CURL, timeout=10).text == "::1\n"


def test_the_app_is_built_in_each_worker_after_gevent_patched_it(start_server):
    server = start_server(WEB_CONCURRENCY="2")
    workers = wait_for(
        lambda: len(server.booted_workers()) == 2 and server.booted_workers(),
        what="two workers built their app",
    )
    assert server.process.pid not in workers  # never in the master
    built = [line for line in server.log().splitlines() if "Built the app" in line]
    assert len(built) == 2
    assert all("(socket module: gevent." in line for line in built), built
    # Kept out of the garbage collector's full collections, which would pause
    # a request for tens of milliseconds to walk them.
    frozen = [int(re.search(r"(\d+) objects frozen", line)[1]) for line in built]
    assert min(frozen) > 10_000, built


# Requests gunicorn refuses before the app sees them, and the status it answers.
MALFORMED = {
    "content-length-and-chunked": (
        b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "two-content-lengths": (
        b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Content-Length: 4\r\n\r\nabcd",
        400,
    ),
    "negative-content-length": (
        b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        400,
    ),
    "transfer-encoding-identity": (
        b"POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
        400,
    ),
    "chunked-on-http-1.0": (
        b"POST /api HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "two-hosts": (b"GET /api HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
    "space-in-header-name": (
        b"GET /api HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
        400,
    ),
    "space-before-colon": (b"GET /api HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n", 400),
    "obsolete-line-folding": (
        b"GET /api HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n",
        400,
    ),
    "nul-in-header": (b"GET /api HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
    "unknown-http-version": (b"GET /api HTTP/9.9\r\nHost: x\r\n\r\n", 400),
    "invalid-method": (b"G(ET /api HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "no-target": (b"GET\r\nHost: x\r\n\r\n", 400),
    "raw-utf8-in-target": (b"GET /api?caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "control-character-in-target": (
        b"GET /api?a=\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
    ),
    "request-line-too-long": (
        b"GET /api?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        414,
    ),
    "header-too-large": (
        b"GET /api HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 9000 + b"\r\n\r\n",
        431,
    ),
    "too-many-headers": (
        b"GET /api HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-Many-%d: 1\r\n" % i for i in range(200))
        + b"\r\n",
        431,
    ),
    "unmeetable-expectation": (
        b"POST /api HTTP/1.1\r\nHost: x\r\nExpect: bogus\r\nContent-Length: 0\r\n\r\n",
        417,
    ),
}


@pytest.fixture(scope="module")
def one_worker(start_server):
    return start_server(WEB_CONCURRENCY="1")


@pytest.mark.parametrize("name", MALFORMED)
def test_requests_gunicorn_refuses_get_its_4xx_and_a_log_line(one_worker, name):
    data, status = MALFORMED[name]
    logged_before = len(one_worker.log())
    answer = send_raw(one_worker.url, data)
    assert status_of(answer) == status
    assert b"Traceback" not in answer

    def refusal_logged():
        new = one_worker.log()[logged_before:]
        return re.search(rf'^- "\S+ \S+ HTTP/1\.\d" {status} ', new, re.M) or (
            "Invalid request from ip=" in new
        )

    wait_for(refusal_logged, what="the refusal reached the log")
    new = one_worker.log()[logged_before:]
    assert "Traceback" not in new
    assert "Error handling request" not in new
    assert requests.get(f"{one_worker.url}/healthz", timeout=10).status_code == 200


def test_static_autorefresh_serves_edits_without_a_rebuild(start_server, tmp_path):
    """`make run` in a checkout of its own, so that the test edits no file here."""
    checkout = tmp_path / "checkout"
    shutil.copytree(
        ROOT,
        checkout,
        ignore=shutil.ignore_patterns(".*", "tests", "docs", "__pycache__"),
    )
    server = start_server(cwd=checkout, STATIC_AUTOREFRESH="1")
    probe = checkout / "static" / "autorefresh-probe.txt"
    probe.write_text("first")
    assert requests.get(f"{server.url}/static/{probe.name}", timeout=10).text == "first"
    probe.write_text("second")
    assert (
        requests.get(f"{server.url}/static/{probe.name}", timeout=10).text == "second"
    )
    page = requests.get(server.url, headers={"Accept": "text/html"}, timeout=10).text
    assert 'href="/static/style.css"' in page


def test_behind_the_router_a_client_cannot_spoof(heroku):
    response = requests.get(
        f"{heroku.url}/api",
        headers={"X-Forwarded-For": "6.6.6.6, 7.7.7.7"},
        timeout=10,
    )
    report = response.json()
    assert report["ip"] == "127.0.0.1"  # what the router saw
    assert report["request_id"]  # the router's X-Request-Id
    assert report["headers"]["Via"] == "1.1 vegur"


def get_with_two_forwarded_for(url: str, first: str, second: str) -> dict:
    """/api/ip with X-Forwarded-For sent twice, as a client may."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.putrequest("GET", "/api/ip")
    connection.putheader("X-Forwarded-For", first)
    connection.putheader("X-Forwarded-For", second)
    connection.endheaders()
    answer = json.loads(connection.getresponse().read())
    connection.close()
    return answer


@pytest.mark.parametrize("merge", ["first", "one"])
def test_two_forwarded_for_headers_cannot_spoof_however_the_router_merges(dyno, merge):
    """Heroku's router appends to the first header and passes the second on as
    the client wrote it ("first"); most proxies merge them into one ("one")."""
    router = Router(dyno.url, merge=merge)
    try:
        answer = get_with_two_forwarded_for(router.url, "5.5.5.5", "6.6.6.6")
    finally:
        router.close()
    assert answer == {"ip": "127.0.0.1"}  # what the router saw


def access_lines(server, fragment: str) -> list[str]:
    return [line for line in server.log().splitlines() if fragment in line]


def test_access_log_has_the_request_id_and_no_query_string(heroku, dyno):
    requests.get(f"{heroku.url}/api/args", params={"token": "s3cret"}, timeout=10)
    lines = wait_for(
        lambda: access_lines(dyno, '"GET /api/args HTTP/1.1" 200'),
        what="the access line was written",
    )
    assert "s3cret" not in dyno.log()
    request_id = lines[-1].split()[0]
    assert len(request_id) == 36  # the router's UUID


def test_the_log_counts_a_static_files_bytes_and_none_for_head(dyno):
    page = requests.get(dyno.url + "/", headers={"Accept": "text/html"}, timeout=10)
    script = re.search(r'src="(/static/app\.[0-9a-f]+\.js)"', page.text)[1]
    plain = {"Accept-Encoding": "identity"}  # the file as it is, not compressed
    size = len(requests.get(dyno.url + script, headers=plain, timeout=10).content)
    requests.head(dyno.url + script, headers=plain, timeout=10)
    logged = f'"GET {script} HTTP/1.1" 200 {size} '
    wait_for(lambda: access_lines(dyno, logged), what="the file's bytes logged")
    head = f'"HEAD {script} HTTP/1.1" 200 0 '
    wait_for(lambda: access_lines(dyno, head), what="no bytes for HEAD")


def test_a_long_path_is_logged_cut_to_its_first_kilobyte(dyno):
    path = "/" + "a" * 3000
    assert requests.get(dyno.url + path, timeout=10).status_code == 404
    (line,) = wait_for(lambda: access_lines(dyno, "/aaaa"), what="the access line")
    assert "/" + "a" * 1023 + " HTTP/1.1" in line  # 1,024 characters of path


def test_a_forged_request_id_cannot_forge_a_log_line(dyno):
    forged = '- "GET /admin HTTP/1.1" 200 0 0ms'
    requests.get(
        f"{dyno.url}/api/headers", headers={"X-Request-Id": forged}, timeout=10
    )
    lines = wait_for(
        lambda: access_lines(dyno, '"GET /api/headers HTTP/1.1" 200'),
        what="the access line was written",
    )
    assert lines[-1].startswith('- "GET /api/headers HTTP/1.1" 200 ')
    assert "/admin" not in dyno.log()


def run_deploy_check(url):
    return subprocess.run(
        [BIN / "python", ROOT / "tools" / "deploy_check.py", url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_deploy_check_catches_a_dyno_reachable_without_the_router(dyno):
    result = run_deploy_check(dyno.url)
    assert result.returncode == 1
    assert "FAIL X-Forwarded-For from the client cannot change the IP" in result.stdout
    assert "FAIL X-Forwarded-For sent twice cannot change the IP" in result.stdout


def test_sigterm_stops_the_site_well_inside_herokus_window(start_server):
    server = start_server(WEB_CONCURRENCY="2")
    # A SIGTERM that reaches a worker still booting is lost, and gunicorn then
    # waits out the whole graceful timeout: wait for both to be serving.
    wait_for(lambda: len(server.booted_workers()) == 2, what="both workers booted")
    took = server.terminate()
    assert server.process.returncode == 0
    assert took < 10, f"took {took:.1f} s; Heroku sends SIGKILL at 30 s"
    assert "Shutting down: Master" in server.log()


def test_ctrl_c_stops_make_run_quietly(start_server):
    """Ctrl-C reaches every process of the terminal's group, as SIGINT."""
    server = start_server(WEB_CONCURRENCY="2")
    wait_for(lambda: len(server.booted_workers()) == 2, what="both workers booted")
    requests.get(server.url + "/ip", timeout=5)
    server.terminate(signal.SIGINT)
    assert server.process.returncode == 0
    log = server.log()
    assert "Shutting down: Master" in log
    assert "Traceback" not in log
    assert "Exception ignored" not in log


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"TRUSTED_PROXY_HOPS": "²"}, "TRUSTED_PROXY_HOPS must be a whole number"),
        ({"RATE_LIMIT": "0/minute"}, "RATE_LIMIT must look like 60/minute"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must look like redis://"),
        ({"IPV4_URL": "https://a.example;script-src *", "IPV6_URL": "https://b.example"},
         "IPV4_URL must be http(s)://host[:port] and nothing else"),
        ({"WEB_CONCURRENCY": "two"}, "WEB_CONCURRENCY must be a whole number"),
        ({"PORT": "http"}, "PORT must be a whole number from 1 to 65535"),
    ],
)  # fmt: skip
def test_a_nonsense_setting_stops_the_boot_with_a_clear_message(
    tmp_path, setting, message
):
    with pytest.raises(RuntimeError, match="exited with status [1-9]") as stopped:
        Server(tmp_path / "server.log", **setting)
    log = str(stopped.value)
    assert message in log
    assert "Traceback" not in log


@pytest.mark.parametrize("where", ["local", "heroku"])
def test_deploy_check_passes(request, where):
    result = run_deploy_check(request.getfixturevalue(where).url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "all checks passed" in result.stdout
    # Loopback is not claimed to be public: that check does not apply here.
    assert "ok   the reported IP is public" not in result.stdout
    assert "skip the reported IP is public, not the router's: 127.0.0.1 is " in (
        result.stdout
    )
