"""The site as Heroku runs it, for the tests and the benchmark alike: the
Procfile's web line under bash, on a free port, with a dyno's environment."""

import asyncio
import contextlib
import functools
import itertools
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import dns.exception
import dns.message
import requests

from . import ROOT
from .city_database import build_city_database
from .registries import stand_in_registries
from .scratch import scratch_folder

BIN = ROOT / ".venv" / "bin"
WEB_COMMAND = next(
    line.removeprefix("web:").strip()
    for line in (ROOT / "Procfile").read_text().splitlines()
    if line.startswith("web:")
)
# What a dyno's environment must not inherit from the machine running the tests.
PLATFORM_VARIABLES = (
    "STATIC_AUTOREFRESH",
    "DYNO",
    "PORT",
    "WEB_CONCURRENCY",
    "TRUSTED_PROXY_HOPS",
    "FORWARDED_ALLOW_IPS",
    "GUNICORN_CMD_ARGS",
    "RATE_LIMIT",
    "LOOKUP_RATE_LIMIT",
    "RATE_LIMIT_IPV6_PREFIX",
    "REDIS_URL",
    "LOOKUPS",
    "DNS_RESOLVER",
    "LOOKUP_TIMEOUT",
    "IPV4_URL",
    "IPV6_URL",
    "RDAP_BOOTSTRAP_URL",
    "RDAP_TIMEOUT",
    "REQUESTS_CA_BUNDLE",
)


def free_port() -> int:
    """A port free for TCP on IPv6 and IPv4 alike (the site binds [::]) and for
    UDP on loopback (a DNS server listens on both)."""
    while True:
        with socket.socket(socket.AF_INET6) as tcp:
            tcp.bind(("::", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


def wait_for(condition, timeout: float = 10, what: str = "the condition"):
    """Polls until condition() is true; its last value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        time.sleep(0.02)
    return value


def listen_queues(port: int) -> list[int]:
    """For each listening socket on `port`: how many connections the kernel holds
    for it that no process has accepted yet (its rx_queue in /proc/net)."""
    queues = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "0A":  # LISTEN
                queues.append(int(fields[4].split(":")[1], 16))
    return queues


@functools.cache
def stand_in_city_database() -> Path:
    """The location database every app and server in the tests reads, unless a
    test gives another: built once a run, outside the working tree."""
    folder = scratch_folder("geodata-")
    return build_city_database(folder / "dbip-city-lite.mmdb")


class Server:
    """`command` (the Procfile's web line unless given) run by bash, as Heroku
    runs it, in its own process group, with PORT set. `cpu` pins it with taskset."""

    def __init__(
        self,
        log_path: Path,
        command: str = WEB_COMMAND,
        *,
        cwd: Path = ROOT,
        probe: str = "/healthz",
        cpu: str | None = None,
        port: int | None = None,
        **env: str,
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.url6 = f"http://[::1]:{self.port}"
        self.log_path = log_path
        environ = {k: v for k, v in os.environ.items() if k not in PLATFORM_VARIABLES}
        dyno = scratch_folder("dyno-")
        environ.update(
            PATH=f"{BIN}{os.pathsep}{environ['PATH']}",
            PORT=str(self.port),
            HOME=str(dyno),
            # What the site writes (its static build) goes with the run.
            TMPDIR=str(dyno),
            # The tests' own location database unless a test gives another:
            # never the one `make geodata` may have put in the working tree.
            GEO_DB=str(stand_in_city_database()),
            # Likewise the stand-in registries, never the real ones.
            RDAP_BOOTSTRAP_URL=stand_in_registries().bootstrap_url,
            REQUESTS_CA_BUNDLE=str(stand_in_registries().certificate),
        )
        environ.update(env)  # PORT too, where a test sets a wrong one
        argv = ["bash", "-c", command.format(port=self.port)]
        started = time.monotonic()
        self.process = subprocess.Popen(
            ["taskset", "-c", cpu, *argv] if cpu else argv,
            cwd=cwd,
            env=environ,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a dyno
        )
        self.wait_until_up(probe)
        self.boot_seconds = time.monotonic() - started

    def wait_until_up(self, probe: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (status := self.process.poll()) is not None:
                raise RuntimeError(
                    f"the web process exited with status {status}:\n{self.log()}"
                )
            try:
                if requests.get(self.url + probe, timeout=1).status_code == 200:
                    return
            except requests.RequestException:  # not listening, or no worker yet
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"no answer on {self.url} in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> set[int]:
        master = self.process.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text()
        return {int(pid) for pid in children.split()}

    def booted_workers(self) -> set[int]:
        """Workers that have built their app (site.py logs it), still running."""
        built = {
            int(line.split("Built the app in worker ")[1].split()[0])
            for line in self.log().splitlines()
            if "Built the app in worker " in line
        }
        return built & self.workers()

    def terminate(self, sent: signal.Signals = signal.SIGTERM) -> float:
        """SIGTERM to every process, as Heroku does (or SIGINT, as Ctrl-C in a
        terminal does); seconds until all have exited."""
        began = time.monotonic()
        os.killpg(self.process.pid, sent)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise
        return time.monotonic() - began

    def stop(self):
        if self.process.poll() is None:
            self.terminate()


class Burst:
    """`clients` keep-alive connections spread over `urls`, each sending request
    after request until stopped: `request(n, i)` gives client n's i-th as (path,
    headers). One thread and one event loop, so that the test's own requests
    (and any stand-in server in the test's process) still get their share of
    the interpreter. Answers whose body `keep` accepts are kept as (path, body)."""

    def __init__(self, urls: list[str], request, clients: int = 200, keep=None):
        self.answers = 0
        self.statuses: set[bytes] = set()
        self.kept: list[tuple[str, bytes]] = []
        self.running = True
        self.thread = threading.Thread(
            target=asyncio.run,
            args=(self._all(urls, request, clients, keep),),
            daemon=True,
        )
        self.thread.start()

    async def _all(self, urls, request, clients, keep):
        await asyncio.gather(
            *(
                self._client(urls[n % len(urls)], request, n, keep)
                for n in range(clients)
            )
        )

    async def _client(self, url: str, request, n: int, keep):
        host, port = url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i in itertools.count():
                if not self.running:
                    return
                path, headers = request(n, i)
                lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
                lines += [f"{name}: {value}" for name, value in headers.items()]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])
                body = await reader.readexactly(length)
                self.statuses.add(head.split(b" ", 2)[1])
                self.answers += 1
                if keep is not None and keep(body):
                    self.kept.append((path, body))
        finally:
            writer.close()

    def stop(self):
        self.running = False
        self.thread.join(timeout=30)


def send_raw(url: str, data: bytes, timeout: float = 10) -> bytes:
    """Bytes on the wire, exactly as given; everything the server answers."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    address = (host.strip("[]"), int(port))
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


class RedisServer:
    """A real redis-server on a free loopback port, keeping nothing on disk;
    `options` as redis-server takes them (["--maxclients", "20"])."""

    def __init__(self, folder: Path, options: tuple[str, ...] = ()):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        self.options = list(options)
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
            + self.options,
            stdout=(self.folder / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for(self.answers, what="redis-server answered PING")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16) == b"+PONG\r\n"
        except OSError:
            return False

    def kill(self):
        self.process.kill()
        self.process.wait()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


GOOGLE_V6 = "2001:4860:4860::8888"
GOOGLE_V6_NIBBLES = "8.8.8.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.8.4.0.6.8.4.1.0.0.2"


# What the test DNS server knows: real addresses, answered on loopback only.
def txt_record(name: str, text: str) -> str:
    """A TXT record of one string, quoted: dnsmasq splits a record at commas."""
    return f'txt-record={name},"{text}"'


DNS_RECORDS = [
    # 8.8.8.8: a network, and a hostname that resolves back to it.
    txt_record(
        "8.8.8.8.origin.asn.cymru.com", "15169 | 8.8.8.0/24 | US | arin | 2023-12-28"
    ),
    txt_record(
        "AS15169.asn.cymru.com",
        "15169 | US | arin | 2000-03-30 | GOOGLE - Google LLC, US",
    ),
    "ptr-record=8.8.8.8.in-addr.arpa,dns.google",
    f"host-record=dns.google,8.8.8.8,{GOOGLE_V6}",
    # The same over IPv6.
    txt_record(
        f"{GOOGLE_V6_NIBBLES}.origin6.asn.cymru.com",
        "15169 | 2001:4860::/32 | US | arin | 2005-03-14",
    ),
    f"ptr-record={GOOGLE_V6_NIBBLES}.ip6.arpa,dns.google",
    # 1.1.1.1: a hostname that does not resolve back to it.
    txt_record(
        "1.1.1.1.origin.asn.cymru.com", "13335 | 1.1.1.0/24 | AU | apnic | 2011-08-11"
    ),
    txt_record(
        "AS13335.asn.cymru.com",
        "13335 | US | arin | 2010-07-14 | CLOUDFLARENET - Cloudflare, Inc., US",
    ),
    "ptr-record=1.1.1.1.in-addr.arpa,claims-to-be.example",
    "host-record=claims-to-be.example,192.0.2.1",
    # 193.0.6.139 and 9.9.9.9: nothing but their country is known.
]
DNS_ZONES = ["cymru.com", "in-addr.arpa", "ip6.arpa", "google", "example"]


class DnsServer:
    """A real DNS server (dnsmasq) on a free loopback port, answering only from
    `records` (lines of a dnsmasq configuration file, such as "ptr-record=…")
    and saying "no such name" for anything else under `zones`; it logs every
    query."""

    def __init__(self, folder: Path, records: list[str] = DNS_RECORDS, zones=DNS_ZONES):
        self.port = free_port()
        self.log_path = folder / "dnsmasq.log"
        config = folder / "dnsmasq.conf"
        config.write_text("".join(f"{record}\n" for record in records))
        self.process = subprocess.Popen(
            ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts"]
            + ["--no-poll", f"--port={self.port}", "--listen-address=127.0.0.1"]
            + ["--bind-interfaces", "--user=root", "--pid-file=", "--log-queries"]
            + [f"--log-facility={self.log_path}", "--local-ttl=300"]
            + [f"--local=/{zone}/" for zone in zones]
            + [f"--conf-file={config}"],
            stdout=(folder / "dnsmasq.out").open("wb"),
            stderr=subprocess.STDOUT,
        )

        def started():
            if self.process.poll() is not None:
                output = (folder / "dnsmasq.out").read_text(errors="replace")
                raise RuntimeError(f"dnsmasq exited: {output}")
            return self.log_path.exists() and "started" in self.log_path.read_text()

        wait_for(started, what="dnsmasq started")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def queries(self, name: str = "") -> list[str]:
        """The queries it has answered, optionally only those for `name`."""
        return [
            line.split("]: ", 1)[1]
            for line in self.log_path.read_text().splitlines()
            if "]: query[" in line and name in line
        ]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class SilentResolver:
    """A UDP socket on loopback that takes DNS queries, counts them, and never
    answers."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        self.received = 0
        threading.Thread(target=self._take, daemon=True).start()

    def _take(self):
        while True:
            try:
                self.socket.recv(4096)
            except OSError:  # closed
                return
            self.received += 1

    def close(self):
        self.socket.close()


class SlowResolver:
    """A resolver on loopback that answers each query `delay` seconds late: it
    passes the query on to `upstream` (a DnsServer) and its answer back."""

    def __init__(self, upstream: DnsServer, delay: float = 0.1):
        self.upstream = ("127.0.0.1", upstream.port)
        self.delay = delay
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                query, client = self.socket.recvfrom(4096)
            except OSError:  # closed
                return
            threading.Thread(
                target=self._answer, args=(query, client), daemon=True
            ).start()

    def _answer(self, query: bytes, client):
        time.sleep(self.delay)  # the resolver's slowness, which this stands for
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
            upstream.settimeout(5)
            upstream.sendto(query, self.upstream)
            try:
                answer = upstream.recv(4096)
            except OSError:
                return
        with contextlib.suppress(OSError):  # closed meanwhile
            self.socket.sendto(answer, client)

    def close(self):
        self.socket.close()


class DroppingResolver(SlowResolver):
    """A resolver that loses some questions: it passes each query on to
    `upstream` at once, but never answers one whose name (as "AS15169.asn.
    cymru.com.") fully matches any of the `drop` patterns."""

    def __init__(self, upstream: DnsServer, drop: tuple[str, ...]):
        self.drop = [re.compile(pattern) for pattern in drop]
        super().__init__(upstream, delay=0)

    def _answer(self, query: bytes, client):
        try:
            name = dns.message.from_wire(query).question[0].name.to_text()
        except dns.exception.DNSException:  # not a query: nothing to pass on
            return
        if not any(pattern.fullmatch(name) for pattern in self.drop):
            super()._answer(query, client)
