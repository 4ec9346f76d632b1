"""Shared fixtures: the app module, and the site booted from its Procfile."""

import importlib.util
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from router import Router

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
)


def load_site():
    """site.py, imported by path: the name `site` belongs to the standard library."""
    spec = importlib.util.spec_from_file_location("whatismyip_site", ROOT / "site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def site():
    return load_site()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The Procfile's web line, run by bash as Heroku runs it, on a free port."""

    def __init__(self, tmp_path: Path, ipv6: bool = False, **env: str):
        self.port = free_port()
        host = "[::1]" if ipv6 else "127.0.0.1"
        self.url = f"http://{host}:{self.port}"
        self.log_path = tmp_path / f"server-{self.port}.log"
        environ = {k: v for k, v in os.environ.items() if k not in PLATFORM_VARIABLES}
        environ.update(
            PATH=f"{BIN}{os.pathsep}{environ['PATH']}",
            PORT=str(self.port),
            HOME=str(tmp_path),
            **env,
        )
        if ipv6:  # as an operator would: GUNICORN_CMD_ARGS outranks the config
            environ["GUNICORN_CMD_ARGS"] = f"--bind {host}:{self.port}"
        started = time.monotonic()
        self.process = subprocess.Popen(
            ["bash", "-c", WEB_COMMAND],
            cwd=ROOT,
            env=environ,
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a dyno
        )
        self.wait_until_up()
        self.boot_seconds = time.monotonic() - started

    def wait_until_up(self, timeout: float = 15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the web process exited:\n{self.log()}")
            try:
                requests.get(f"{self.url}/healthz", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"no answer on {self.url} in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

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


@pytest.fixture(scope="session")
def start_server(tmp_path_factory):
    """Boots a server with the given environment; all are stopped at the end."""
    servers = []

    def start(ipv6=False, **env):
        server = Server(tmp_path_factory.mktemp("dyno"), ipv6, **env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def local(start_server):
    """As `make run` starts it on a laptop: no proxy in front."""
    return start_server()


@pytest.fixture(scope="session")
def dyno(start_server):
    """With the environment Heroku gives a web dyno."""
    return start_server(DYNO="web.1", WEB_CONCURRENCY="2", FORWARDED_ALLOW_IPS="*")


@pytest.fixture(scope="session")
def heroku(dyno):
    """The dyno behind a stand-in for Heroku's router, reached over "https"."""
    router = Router(dyno.url)
    yield router
    router.close()
