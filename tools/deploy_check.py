"""Checks a running instance the way an operator would after `git push heroku`.

Usage: python tools/deploy_check.py https://<app>.herokuapp.com
Prints one line a check and exits 1 if any failed.
"""

import http.client
import ipaddress
import json
import sys
from urllib.parse import urlsplit

import requests

BROWSER = {"Accept": "text/html,*/*;q=0.8", "User-Agent": "Mozilla/5.0 deploy-check"}
SPOOF = "198.51.100.77"  # a documentation address no real client has
SECOND_SPOOF = "198.51.100.78"


def ip_with_two_forwarded_for(base: str) -> str | None:
    """/api/ip's answer to a client that sends X-Forwarded-For twice: Heroku's
    router appends to the first and passes the second on as written."""
    parts = urlsplit(base)
    connection_class = (
        http.client.HTTPSConnection
        if parts.scheme == "https"
        else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("GET", f"{parts.path}/api/ip")
        connection.putheader("X-Forwarded-For", SPOOF)
        connection.putheader("X-Forwarded-For", SECOND_SPOOF)
        connection.endheaders()
        return json.loads(connection.getresponse().read()).get("ip")
    except (OSError, ValueError, http.client.HTTPException) as error:
        return f"no answer ({type(error).__name__})"
    finally:
        connection.close()


def is_this_machine(host: str) -> bool:
    """localhost (RFC 6761 keeps the name and its subdomains for loopback), or a
    loopback address."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_checks(base: str):
    """Yields (what was checked, passed, detail); passed is None for a check
    that does not apply here."""
    session = requests.Session()
    local = is_this_machine(urlsplit(base).hostname or "")

    page = session.get(f"{base}/?check=<b>1</b>", headers=BROWSER, timeout=10)
    yield (
        "the page answers with HTML",
        page.status_code == 200
        and page.headers["Content-Type"].startswith("text/html"),
        f"{page.status_code} {page.headers.get('Content-Type')}",
    )
    yield (
        "the page escapes what a visitor sent",
        "&lt;b&gt;1&lt;/b&gt;" in page.text and "<b>1</b>" not in page.text,
        "the arg ?check=<b>1</b>",
    )
    yield (
        "the page's answer varies with Accept and User-Agent",
        {"accept", "user-agent"}
        <= {v.strip().lower() for v in page.headers.get("Vary", "").split(",")},
        page.headers.get("Vary", "(no Vary)"),
    )

    api = session.get(f"{base}/api", params={"check": "1"}, timeout=10)
    report = api.json() if api.headers.get("Content-Type") == "application/json" else {}
    yield (
        "/api answers with the JSON report",
        api.status_code == 200 and report.get("args") == {"check": ["1"]},
        f"{api.status_code} args={report.get('args')}",
    )
    try:
        address = ipaddress.ip_address(report.get("ip") or "")
    except ValueError:
        address = None
    yield ("the reported IP is an address", address is not None, repr(report.get("ip")))
    yield (
        "the reported IP is public, not the router's",
        None if local else report.get("ip_scope") == "public",
        f"{report.get('ip')} is {report.get('ip_scope')}"
        + (" (a site on this machine has no router in front)" if local else ""),
    )

    spoofed = session.get(
        f"{base}/api/ip", headers={"X-Forwarded-For": SPOOF}, timeout=10
    ).json()
    yield (
        "X-Forwarded-For from the client cannot change the IP",
        spoofed.get("ip") == report.get("ip") and spoofed.get("ip") != SPOOF,
        f"sent X-Forwarded-For: {SPOOF}, got {spoofed.get('ip')}",
    )

    twice = ip_with_two_forwarded_for(base)
    yield (
        "X-Forwarded-For sent twice cannot change the IP",
        twice == report.get("ip") and twice not in (SPOOF, SECOND_SPOOF),
        f"sent {SPOOF} and {SECOND_SPOOF} in two headers, got {twice}",
    )

    text = session.get(base, headers={"User-Agent": "curl/8.5.0"}, timeout=10)
    yield (
        "curl gets the bare IP as text",
        text.text == f"{report.get('ip')}\n"
        and text.headers["Content-Type"].startswith("text/plain"),
        repr(text.text[:60]),
    )

    missing = session.get(f"{base}/api/no-such-thing", timeout=10)
    yield (
        "an unknown /api path is a JSON 404",
        missing.status_code == 404 and "error" in missing.json(),
        f"{missing.status_code} {missing.headers.get('Content-Type')}",
    )

    stylesheet = session.get(f"{base}/static/style.css", timeout=10)
    yield (
        "static files are served with cache headers",
        stylesheet.status_code == 200
        and stylesheet.headers.get("Content-Type", "").startswith("text/css")
        and "max-age" in stylesheet.headers.get("Cache-Control", ""),
        f"{stylesheet.status_code} {stylesheet.headers.get('Cache-Control')}",
    )

    health = session.get(f"{base}/healthz", timeout=10)
    yield ("/healthz answers", health.status_code == 200, str(health.status_code))


VERDICTS = {True: "ok  ", False: "FAIL", None: "skip"}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    base = argv[1].rstrip("/")
    failures = 0
    try:
        for name, passed, detail in run_checks(base):
            failures += passed is False
            print(f"{VERDICTS[passed]} {name}: {detail}")
    except requests.RequestException as error:
        failures += 1
        print(f"FAIL the site answers: {error}")
    print(f"{base}: {'all checks passed' if not failures else f'{failures} failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
