"""The site as Heroku runs it, for the tests and the benchmark alike: the
Procfile's web line under bash, on a free port, with a dyno's environment."""

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
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
    "REDIS_URL",
)


def free_port() -> int:
    """A port free on IPv6 and IPv4 alike, as the site binds [::]."""
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::", 0))
        return sock.getsockname()[1]


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
        **env: str,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.url6 = f"http://[::1]:{self.port}"
        self.log_path = log_path
        environ = {k: v for k, v in os.environ.items() if k not in PLATFORM_VARIABLES}
        environ.update(
            PATH=f"{BIN}{os.pathsep}{environ['PATH']}",
            PORT=str(self.port),
            HOME=tempfile.mkdtemp(prefix="dyno-home-"),
            **env,
        )
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
            if self.process.poll() is not None:
                raise RuntimeError(f"the web process exited:\n{self.log()}")
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

    def terminate(self) -> float:
        """SIGTERM to every process, as Heroku does; seconds until all have exited."""
        began = time.monotonic()
        os.killpg(self.process.pid, signal.SIGTERM)
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
    """A real redis-server on a free loopback port, keeping nothing on disk."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.folder)],
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
