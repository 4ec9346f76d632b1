"""Stand-ins for IANA's RDAP bootstrap files and the five regional registries:
real HTTP servers on loopback (RIPE NCC's over TLS, with a certificate made for
the run), answering in each registry's own shape, built here from made-up but
realistic registrations, never copied from a registry. Some blocks misbehave
as registries can: a 429 with Retry-After, a redirect to another registry, no
answer at all, an answer of 5 MB, an answer that is not JSON."""

import http.server
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from email.utils import formatdate
from ipaddress import ip_network
from pathlib import Path

from whatismyip.sources.rdap.client import MAX_ANSWER_BYTES

from .scratch import scratch_folder

# What each stand-in path plays, and the blocks IANA's files give it.
BOOTSTRAP = {
    "arin": ["8.0.0.0/8", "4.0.0.0/8", "9.0.0.0/8", "12.0.0.0/8", "2001:4860::/32"],
    "ripe": ["193.0.0.0/8", "2001:67c::/32"],
    "apnic": ["1.0.0.0/8"],
    "lacnic": ["200.0.0.0/8"],
    "afrinic": ["41.0.0.0/8"],
    "silent": ["5.0.0.0/8"],  # accepts, never answers
    "huge": ["6.0.0.0/8"],  # 5 MB of JSON
    "broken": ["7.0.0.0/8"],  # not JSON
    "refused": ["3.0.0.0/8"],  # a port nothing listens on
    "chunked": ["11.0.0.0/8"],  # 2 MB without Content-Length, then silence
    "padded": ["19.0.0.0/8"],  # an answer of 300 KB, sent in chunks
    "hop/3": ["13.0.0.0/8"],  # three redirects, each by path alone, then the answer
    "hop/4": ["14.0.0.0/8"],  # four
    "slow": ["16.0.0.0/8"],  # answers after 0.3 s
    "entity": ["17.0.0.0/8"],  # an entity, not an ip network
    "busy": ["18.0.0.0/8"],  # 429 with Retry-After as a date
    "mangled": ["20.0.0.0/8"],  # a redirect to a URL no parser can read
    "exact": ["21.0.0.0/8"],  # an answer of exactly the size the site reads
    "otherfamily": ["22.0.0.0/8"],  # an IPv6 network for an IPv4 address
}
# Stand-ins reached over TLS only.
TLS_ONLY = ("hop/3", "hop/4")
# Seconds LACNIC's 429 asks callers to wait, and the busy one's, as a date.
LACNIC_PAUSE, BUSY_PAUSE = 120, 600


def jcard(*properties) -> list:
    return ["vcard", [["version", {}, "text", "4.0"], *properties]]


def fn(name):
    return ["fn", {}, "text", name]


def email(address, **params):
    return ["email", params, "text", address]


def tel(number, kind="text"):
    return ["tel", {"type": ["work", "voice"]}, kind, number]


def events(registered: str, changed: str) -> list:
    return [
        {"eventAction": "registration", "eventDate": registered},
        {"eventAction": "last changed", "eventDate": changed},
    ]


def cidr0(start: str, end: str) -> list:
    networks = ipaddress.summarize_address_range(
        ipaddress.ip_address(start), ipaddress.ip_address(end)
    )
    return [
        {f"v{n.version}prefix": str(n.network_address), "length": n.prefixlen}
        for n in networks
    ]


def network(port43, handle, name, start, end, entities, **more) -> dict:
    version = ipaddress.ip_address(start).version
    return {
        "rdapConformance": ["rdap_level_0", "cidr0", "nro_rdap_profile_0"],
        "objectClassName": "ip network",
        "handle": handle,
        "startAddress": start,
        "endAddress": end,
        "ipVersion": f"v{version}",
        "name": name,
        "cidr0_cidrs": cidr0(start, end),
        "entities": entities,
        "port43": port43,
        "status": ["active"],
        **more,
    }


def arin(handle, name, start, end, org, abuse_email) -> dict:
    """ARIN's shape: the organisation is the registrant, and its contacts,
    the abuse one among them, are entities inside it."""
    return network(
        "whois.arin.net",
        handle,
        name,
        start,
        end,
        [
            {
                "objectClassName": "entity",
                "handle": name,
                "roles": ["registrant"],
                "vcardArray": jcard(fn(org), ["kind", {}, "text", "org"]),
                "entities": [
                    {
                        "objectClassName": "entity",
                        "handle": "ZG39-ARIN",
                        "roles": ["administrative", "technical"],
                        "vcardArray": jcard(fn("Operations"), email("noc@example.net")),
                    },
                    {
                        "objectClassName": "entity",
                        "handle": "ABUSE5250-ARIN",
                        "roles": ["abuse"],
                        "vcardArray": jcard(
                            fn("Abuse"),
                            ["kind", {}, "text", "group"],
                            email(abuse_email),
                            tel("+1-650-253-0000"),
                        ),
                    },
                ],
            }
        ],
        type="DIRECT ALLOCATION",
        events=events("2023-12-28T17:24:33-05:00", "2024-02-01T10:12:03-05:00"),
    )


def arin_answer(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """Google's /24 inside Level 3's /9, a small customer network, and IPv6."""
    if address.version == 6:
        return arin(
            "NET6-2001-4860-1",
            "GOOGLE-IPV6",
            "2001:4860::",
            "2001:4860:ffff:ffff:ffff:ffff:ffff:ffff",
            "Google LLC",
            "network-abuse@google.com",
        )
    if address in ipaddress.ip_network("8.8.8.0/24"):
        return arin(
            "NET-8-8-8-0-2",
            "GOGL",
            "8.8.8.0",
            "8.8.8.255",
            "Google LLC",
            "network-abuse@google.com",
        )
    if address in ipaddress.ip_network("8.9.9.0/29"):
        return arin(
            "NET-8-9-9-0-1",
            "SMALL-SHOP",
            "8.9.9.0",
            "8.9.9.7",
            "A Small Shop Inc.",
            "abuse@shop.example",
        )
    return arin(
        "NET-8-0-0-0-1",
        "LVLT-ORG-8-8",
        "8.0.0.0",
        "8.127.255.255",
        "Level 3 Parent, LLC",
        "abuse@level3.example",
    )


def ripe_answer(address):
    """RIPE's shape: the organisation as registrant with no e-mail, contacts
    whose e-mail addresses RIPE strips, and the abuse role at the top."""
    if address.version == 6:
        start, end = "2001:67c:2e8::", "2001:67c:2e8:ffff:ffff:ffff:ffff:ffff"
    elif address in ip_network("9.0.0.0/8"):  # moved here from ARIN
        start, end = "9.9.9.0", "9.9.9.255"
    else:
        start, end = "193.0.0.0", "193.0.7.255"
    return network(
        "whois.ripe.net",
        f"{start} - {end}",
        "RIPE-NCC",
        start,
        end,
        [
            {
                "objectClassName": "entity",
                "handle": "ORG-RIEN1-RIPE",
                "roles": ["registrant"],
                "vcardArray": jcard(
                    fn("Reseaux IP Europeens Network Coordination Centre (RIPE NCC)"),
                    ["kind", {}, "text", "org"],
                ),
            },
            {
                "objectClassName": "entity",
                "handle": "BRD-RIPE",
                "roles": ["technical", "administrative"],
                "vcardArray": jcard(fn("RIPE NCC Operations")),
            },
            {
                "objectClassName": "entity",
                "handle": "OPS4-RIPE",
                "roles": ["abuse"],
                "vcardArray": jcard(
                    fn("Abuse contact"),
                    ["kind", {}, "text", "group"],
                    tel("+31205354444"),
                    email("abuse@ripe.net", type="abuse"),
                ),
            },
        ],
        country="NL",
        type="ASSIGNED PA",
        events=events("2003-03-17T12:15:57Z", "2024-11-19T13:35:41Z"),
    )


def apnic_answer(address):
    """APNIC's shape: an IRT object holds the abuse mailbox; the registrant
    is an organisation; the phone a tel: URI."""
    return network(
        "whois.apnic.net",
        "1.1.1.0 - 1.1.1.255",
        "APNIC-LABS",
        "1.1.1.0",
        "1.1.1.255",
        [
            {
                "objectClassName": "entity",
                "handle": "ORG-ARAD1-AP",
                "roles": ["registrant"],
                "vcardArray": jcard(fn("APNIC Research and Development")),
            },
            {
                "objectClassName": "entity",
                "handle": "IRT-APNICRANDNET-AU",
                "roles": ["abuse"],
                "vcardArray": jcard(
                    fn("IRT-APNICRANDNET-AU"),
                    email("helpdesk@apnic.example"),
                    tel("tel:+61-7-3858-3100", "uri"),
                ),
            },
        ],
        country="AU",
        type="ASSIGNED PORTABLE",
        events=events("2011-08-10T23:12:35Z", "2023-04-26T22:57:58Z"),
    )


def afrinic_answer(address):
    return network(
        "whois.afrinic.net",
        "41.0.0.0 - 41.0.255.255",
        "AFRINIC-EXAMPLE",
        "41.0.0.0",
        "41.0.255.255",
        [
            {
                "objectClassName": "entity",
                "handle": "ORG-EX1-AFRINIC",
                "roles": ["registrant"],
                "vcardArray": jcard(fn("Example Telecom Ltd")),
            },
            {
                "objectClassName": "entity",
                "handle": "AC1-AFRINIC",
                "roles": ["abuse"],
                "vcardArray": jcard(fn("Abuse desk"), email("abuse@telecom.example")),
            },
        ],
        country="ZA",
        events=events("2005-11-02T12:00:00Z", "not a date"),
    )


ANSWERS = {
    "arin": arin_answer,
    "ripe": ripe_answer,
    "apnic": apnic_answer,
    "afrinic": afrinic_answer,
}


class Handler(http.server.BaseHTTPRequestHandler):
    server: "RegistryServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        """Quiet: the tests read what was asked from `asked`."""

    def do_GET(self):
        stand_in = self.server.stand_in
        stand_in.asked[self.path] += 1
        stand_in.headers[self.path] = self.headers
        part, _, rest = self.path.lstrip("/").partition("/")
        if part == "bootstrap":
            return self.answer(200, stand_in.bootstrap(rest.removesuffix(".json")))
        if part == "hop":  # /hop/<n>/ip/<address>: n redirects, then RIPE's answer
            left, _, rest = rest.partition("/")
            if left != "0":  # a Location of a path alone, on this same host
                return self.redirect(f"/hop/{int(left) - 1}/{rest}")
            part = "ripe"
        text = rest.removeprefix("ip/")
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return self.answer(400, {"errorCode": 400, "title": "bad request"})
        if part == "silent":
            stand_in.stopping.wait(60)
            return None
        if part == "huge":
            return self.answer(
                200, {"objectClassName": "ip network", "x": "a" * 5_000_000}
            )
        if part == "broken":
            return self.send(200, b'{"objectClassName": "ip network", ')
        if part == "chunked":
            return self.send_chunked(b'{"objectClassName": "ip network", "x": "'
                                     + b"a" * 2_000_000, stall=True)  # fmt: skip
        if part == "padded":
            answer = arin_answer(address)
            answer["remarks"] = [{"description": ["x" * 300_000]}]
            return self.send_chunked(json.dumps(answer).encode())
        if part == "exact":
            answer = json.dumps(arin_answer(address)).encode()
            padding = MAX_ANSWER_BYTES - len(answer) - len(b',"x":""')
            return self.send(200, answer[:-1] + b',"x":"' + b"a" * padding + b'"}')
        if part == "mangled":
            return self.redirect("https://[::1/ip")
        if part == "slow":
            stand_in.stopping.wait(0.3)
            return self.answer(200, arin_answer(address))
        if part == "entity":
            return self.answer(200, {"objectClassName": "entity", "handle": "X"})
        if part == "busy":
            later = formatdate(time.time() + BUSY_PAUSE, usegmt=True)
            return self.answer(429, {"errorCode": 429}, {"Retry-After": later})
        if part == "lacnic":
            return self.answer(
                429, {"errorCode": 429}, {"Retry-After": str(LACNIC_PAUSE)}
            )
        if part == "otherfamily":
            return self.answer(
                200,
                network("whois.arin.net", "NET6-2A0C", "V6", "2a0c::", "2a0c::ff", []),
            )
        if part == "arin" and address in ipaddress.ip_network("4.0.0.0/8"):
            return self.answer(404, {"errorCode": 404, "title": "Not Found"})
        if part == "arin" and address in ipaddress.ip_network("9.0.0.0/8"):
            # A block that moved to RIPE NCC: ARIN redirects, over https.
            return self.redirect(f"{stand_in.tls_url}/ripe/ip/{address}")
        if part == "arin" and address in ipaddress.ip_network("12.0.0.0/8"):
            return self.redirect(f"{stand_in.url}/ripe/ip/{address}")  # plain http
        if part in ANSWERS:
            return self.answer(200, ANSWERS[part](address))
        return self.answer(404, {"errorCode": 404})

    def answer(self, status: int, document, headers=None):
        self.send(status, json.dumps(document).encode(), headers)

    def send_chunked(self, body: bytes, size: int = 64 * 1024, stall=False):
        self.send_response(200)
        self.send_header("Content-Type", "application/rdap+json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for start in range(0, len(body), size):
                chunk = body[start : start + size]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if stall:  # the body never ends
                self.server.stand_in.stopping.wait(60)
                return
            self.wfile.write(b"0\r\n\r\n")
        except ConnectionError:  # the site stopped reading, as it should
            self.close_connection = True

    def redirect(self, location: str):
        self.send(301, b"", {"Location": location})

    def send(self, status: int, body: bytes, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/rdap+json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except ConnectionError:  # the site stopped reading, as it should
            self.close_connection = True


class RegistryServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """Quiet: the site hangs up on a registry that sends too much, or
        gives up on one that is too slow, as it should."""

    def __init__(self, stand_in, context=None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.stand_in = stand_in
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Registries:
    """The bootstrap files and every registry, on two loopback servers (one
    plain, one TLS); `asked` counts the paths each was asked for."""

    def __init__(self):
        folder = scratch_folder("rdap-")
        self.certificate = make_certificate(folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, folder / "key.pem")
        self.asked: Counter = Counter()
        self.headers: dict = {}  # the last request's headers, by path
        self.stopping = threading.Event()
        self.plain = RegistryServer(self)
        self.tls = RegistryServer(self, context)
        self.url = f"http://127.0.0.1:{self.plain.server_address[1]}"
        self.tls_url = f"https://127.0.0.1:{self.tls.server_address[1]}"
        self.bootstrap_url = f"{self.url}/bootstrap/"
        with socket.create_server(("127.0.0.1", 0)) as closed:
            self.closed_port = closed.getsockname()[1]

    def bootstrap(self, family: str) -> dict:
        """IANA's ipv4.json or ipv6.json, listing the stand-ins; RIPE NCC's
        over https and http both, as IANA lists some registries."""
        services = []
        for part, blocks in BOOTSTRAP.items():
            chosen = [
                b for b in blocks if f"v{ipaddress.ip_network(b).version}" in family
            ]
            if chosen:
                urls = [f"{self.url}/{part}/"]
                if part == "ripe":
                    urls = [f"{self.url}/ripe/", f"{self.tls_url}/ripe/"]
                elif part in TLS_ONLY:
                    urls = [f"{self.tls_url}/{part}/"]
                elif part == "refused":
                    urls = [f"http://127.0.0.1:{self.closed_port}/"]
                services.append([chosen, urls])
        return {
            "description": f"RDAP bootstrap file for IP{family} address allocations",
            "publication": "2026-11-20T17:00:02Z",
            "services": services,
            "version": "1.0",
        }

    def asked_about(self, address: str) -> int:
        return sum(
            n for path, n in self.asked.items() if path.endswith(f"/ip/{address}")
        )

    def close(self):
        self.stopping.set()
        for server in (self.plain, self.tls):
            server.shutdown()
            server.server_close()


def make_certificate(folder: Path) -> Path:
    """A self-signed certificate for 127.0.0.1, for a day."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return folder / "cert.pem"


STARTED: dict[int, Registries] = {}  # by process


def stand_in_registries() -> Registries:
    """The registries every app and server in the tests asks, unless a test
    gives others: started once per process. A process forked from one that
    started them (as make mutants' workers are) starts its own: the threads
    that serve them did not come along. requests trusts their certificate
    through REQUESTS_CA_BUNDLE, which booted servers inherit."""
    pid = os.getpid()
    if pid not in STARTED:
        registries = STARTED[pid] = Registries()
        os.environ["REQUESTS_CA_BUNDLE"] = str(registries.certificate)
    return STARTED[pid]


# What the stand-in ARIN answers for 8.8.8.8, read as the owner fields.
GOOGLE = {
    "registry": "ARIN",
    "network": {
        "name": "GOGL",
        "handle": "NET-8-8-8-0-2",
        "range": ["8.8.8.0", "8.8.8.255"],
        "cidr": ["8.8.8.0/24"],
        "country": None,
    },
    "organization": "Google LLC",
    "abuse": {"email": "network-abuse@google.com", "phone": "+1-650-253-0000"},
    "registered": "2023-12-28T17:24:33-05:00",
    "updated": "2024-02-01T10:12:03-05:00",
}


def card(*properties) -> dict:
    """An entity's jCard (RFC 7095) holding these properties."""
    return {"vcardArray": ["vcard", list(properties)]}


def entity(roles, *properties, entities=()) -> dict:
    return {"roles": roles, **card(*properties), "entities": list(entities)}
