"""`make bench`: the site, booted from its Procfile, against baselines served in
the same run, reported as ratios. Not a test: it asserts nothing, it reports.

The machine has two cores and its speed swings within seconds, so the two
servers of a pair are loaded at the same time: both pinned to CPU 0, each by its
own wrk on CPU 1. Each then gets the same share of CPU 0, and the ratio of their
throughputs is the ratio of their costs per request, whatever the host does
meanwhile. Rounds alternate which wrk starts first; an A/A control (a server
against a copy of itself) says how far a ratio can be trusted.

    python tools/bench/bench.py [--seconds 5] [--rounds 6]
    python tools/bench/bench.py --worker-classes
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import requests

HERE = Path(__file__).resolve().parent
# The tests' stand-ins, shared with the bench.
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parents[1] / "tests")]
from loadgen import fixed_rate, summary  # noqa: E402
from support.scratch import scratch_folder  # noqa: E402
from support.serving import (  # noqa: E402
    ROOT,
    WEB_COMMAND,
    Burst,
    DnsServer,
    RedisServer,
    Server,
    listen_queues,
    wait_for,
)

DOCS = ROOT / "docs"
SERVER_CPU, CLIENT_CPU = "0", "1"
WORKERS = "2"  # the article's `gunicorn -w 2`, and what Heroku gives a small dyno
CONNECTIONS = 16  # for each wrk
CONTROL_TOLERANCE = 0.05
# Runs of the latency measurement, each with its own half-load rate: the median
# run is reported, so one burst of the host's own slowness does not decide it.
LATENCY_RUNS = 3
BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0",
    "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
    "Accept-Encoding": "gzip, deflate, br",
}
ARGS = "a=1&b=two&c=%C3%BC"
REPEAT_VISITOR = {"X-Forwarded-For": "8.8.8.8"}  # known to the bench's DNS server
MANY_CLIENTS = str(HERE / "many_clients.lua")
MILLION_CLIENTS = str(HERE / "million_clients.lua")
# The rate limit's memory: one worker, sent this many clients it has never seen.
SWEEP = 200_000
GUNICORN = f"{sys.prefix}/bin/gunicorn --bind 127.0.0.1:{{port}} --no-control-socket"
ARTICLE = f"{GUNICORN} -w {WORKERS} apps:article"  # as the article deploys it
HALF_A_REQUEST = b"GET /api HTTP/1.1\r\nHost: slow.example\r\n"


class Target(NamedTuple):
    url: str
    headers: dict | None = None
    script: str | None = None  # a wrk Lua script


def start(name, command=WEB_COMMAND, probe="/healthz", cwd=ROOT, **env) -> Server:
    """A server pinned to SERVER_CPU, with as many workers as every other."""
    log = scratch_folder("bench-") / f"{name}.log"
    env = {"WEB_CONCURRENCY": WORKERS, **env}
    return Server(log, command, cwd=cwd, probe=probe, cpu=SERVER_CPU, **env)


def sweep_of_new_clients(server: Server, first: int, count: int):
    """`count` requests to /api/ip, each from an IPv6 client never seen before
    (a /64 of its own), as a sweep of addresses or a flood from many home lines
    would send them."""

    def request(n, i):
        client = first + i * CONNECTIONS + n
        address = f"2a02:{client // 65536:x}:{client % 65536:x}::1"
        return "/api/ip", {"X-Forwarded-For": address}

    sweep = pinned(Burst, [server.url], request, clients=CONNECTIONS)
    try:
        wait_for(lambda: sweep.answers >= count, timeout=600, what="the sweep")
    finally:
        sweep.stop()


def rate_limit_memory(dns: DnsServer) -> list[float]:
    """One worker's RSS (MB) with RATE_LIMIT on: booted, then after half of
    SWEEP new clients, then after all of them."""
    server = start(
        "limit memory", WEB_CONCURRENCY="1", DYNO="web.1", DNS_RESOLVER=dns.address,
        RATE_LIMIT="10/second;1000/day",
    )  # fmt: skip
    try:
        sweep_of_new_clients(server, 0, 1000)  # warm: every code path run once
        sizes = [worker_rss_mb(server)]
        for half in (0, 1):
            sweep_of_new_clients(server, 1000 + half * SWEEP // 2, SWEEP // 2)
            sizes.append(worker_rss_mb(server))
        return sizes
    finally:
        server.stop()


def worker_rss_mb(server: Server) -> float:
    return max(
        int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())[1])
        / 1024
        for pid in server.workers()
    )


def wrk_command(target: Target, seconds: float) -> list[str]:
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{CONNECTIONS}"]
    command += [f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for name, value in (target.headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if target.script:
        command += ["-s", target.script]
    return [*command, target.url]


def parse_wrk(output: str) -> dict:
    def latency_ms(percent):
        pattern = rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$"
        value, unit = re.search(pattern, output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
        "p50": latency_ms(50),
        "p99": latency_ms(99),
        "errors": (sum(map(int, errors.groups())) if errors else 0)
        + (int(non_2xx[1]) if non_2xx else 0),
    }


def wrk(target: Target, seconds: float = 5) -> dict:
    output = subprocess.run(
        wrk_command(target, seconds), capture_output=True, text=True, check=True
    ).stdout
    return parse_wrk(output)


def wrk_pair(first: Target, second: Target, seconds: float) -> tuple[dict, dict]:
    """Both loaded at once, `first`'s wrk started first."""
    runs = [
        subprocess.Popen(
            wrk_command(target, seconds), stdout=subprocess.PIPE, text=True
        )
        for target in (first, second)
    ]
    return tuple(parse_wrk(run.communicate()[0]) for run in runs)


def paired(site: Target, baseline: Target, seconds: float, rounds: int) -> dict:
    """Ratios of site to baseline throughput, one per round, after a warm-up."""
    wrk_pair(site, baseline, 2)
    ratios, site_rps, baseline_rps, errors = [], [], [], 0
    for round_number in range(rounds):
        if round_number % 2 == 0:
            mine, theirs = wrk_pair(site, baseline, seconds)
        else:
            theirs, mine = wrk_pair(baseline, site, seconds)
        ratios.append(mine["rps"] / theirs["rps"])
        site_rps.append(mine["rps"])
        baseline_rps.append(theirs["rps"])
        errors += mine["errors"] + theirs["errors"]
    return {
        "ratio": statistics.median(ratios),
        "low": min(ratios),
        "high": max(ratios),
        "site": statistics.median(site_rps),
        "baseline": statistics.median(baseline_rps),
        "errors": errors,
    }


# The site as it was before answers carried ETags, to price them.
BEFORE_ETAGS = "f3e0e16"
# The site before its sources shared one shape and engine (issue 28), so that
# the redesign is seen to cost the routes nothing.
BEFORE_SOURCES = "a2496f6"


def site_at(commit: str, folder: Path) -> Path:
    """The tree of `commit`, unpacked into `folder` (the repository untouched)."""
    tree = folder / f"site-{commit}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", ROOT, "archive", commit], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    return tree


def start_servers(dns: DnsServer, redis_url: str, folder: Path) -> dict[str, Server]:
    dyno = {"DYNO": "web.1", "DNS_RESOLVER": dns.address}
    many = "100000/minute"  # per address: never reached by these 1,024 clients
    before_etags = site_at(BEFORE_ETAGS, folder)
    before_sources = site_at(BEFORE_SOURCES, folder)
    return {
        "site": start("site", DNS_RESOLVER=dns.address),
        "site before ETags": start(
            "site before ETags", cwd=before_etags, DNS_RESOLVER=dns.address
        ),
        "article": start("article", ARTICLE, "/get_my_ip", HERE),
        "article copy": start("article copy", ARTICLE, "/get_my_ip", HERE),
        # The site's settings name its access logger, in the site's package.
        "raw": start(
            "raw WSGI",
            f"{GUNICORN} -c {ROOT}/gunicorn.conf.py apps:raw",
            "/",
            HERE,
            PYTHONPATH=str(ROOT),
        ),
        "httpbin": start(
            "httpbin",
            f"{GUNICORN} -w {WORKERS} -k gevent httpbin:app",
            "/get",
            HERE,
        ),
        "dyno": start("dyno", **dyno),
        "dyno before sources": start("dyno before sources", cwd=before_sources, **dyno),
        "dyno, no lookups": start("dyno, no lookups", LOOKUPS="", **dyno),
        "dyno, no owner": start(
            "dyno, no owner", LOOKUPS="country,asn,hostname,location", **dyno
        ),
        "dyno, limit in process": start(
            "dyno, limit in process", RATE_LIMIT=many, **dyno
        ),
        "dyno, limit in Redis": start(
            "dyno, limit in Redis", RATE_LIMIT=many, REDIS_URL=redis_url, **dyno
        ),
    }


class Comparison(NamedTuple):
    label: str
    site: Target
    baseline_name: str
    baseline: Target
    target: float | None


def comparisons(servers: dict[str, Server]) -> list[Comparison]:
    url = {name: server.url for name, server in servers.items()}
    page = requests.get(url["site"], headers=BROWSER, timeout=10).text
    stylesheet = re.search(r'href="(/static/style\.[0-9a-f]{12}\.css)"', page)[1]
    article, copy = Target(f"{url['article']}/get_my_ip"), url["article copy"]
    many = {"script": MANY_CLIENTS}
    million = {"script": MILLION_CLIENTS}
    return [
        Comparison("A/A control: /get_my_ip", article,
                   "the article's Flask, a copy", Target(f"{copy}/get_my_ip"), None),
        Comparison("/api/ip", Target(f"{url['site']}/api/ip"),
                   "the article's Flask, /get_my_ip", article, 1.0),
        Comparison("/api/ip, with its ETag", Target(f"{url['site']}/api/ip"),
                   f"/api/ip before ETags ({BEFORE_ETAGS})",
                   Target(f"{url['site before ETags']}/api/ip"), 0.95),
        Comparison("/json", Target(f"{url['site']}/json"),
                   "/api, same site", Target(f"{url['site']}/api"), 0.95),
        Comparison("/ip?format=json", Target(f"{url['site']}/ip?format=json"),
                   "/api/ip, same site", Target(f"{url['site']}/api/ip"), 0.95),
        Comparison("/ as a browser asks", Target(url["site"], BROWSER),
                   "the article's Flask page", Target(url["article"], BROWSER), 0.75),
        Comparison(f"/api?{ARGS}", Target(f"{url['site']}/api?{ARGS}"),
                   "httpbin /get, same query",
                   Target(f"{url['httpbin']}/get?{ARGS}"), 1.5),
        Comparison("/api, repeat visitor, lookups on",
                   Target(f"{url['dyno']}/api", REPEAT_VISITOR), "/api, lookups off",
                   Target(f"{url['dyno, no lookups']}/api", REPEAT_VISITOR), 0.9),
        Comparison("/api/owner, network already asked",
                   Target(f"{url['dyno']}/api/owner", REPEAT_VISITOR),
                   "/api, same visitor", Target(f"{url['dyno']}/api", REPEAT_VISITOR),
                   1.0),
        Comparison("/ as a browser asks, owner card on",
                   Target(url["dyno"], {**BROWSER, **REPEAT_VISITOR}),
                   "/, LOOKUPS without owner",
                   Target(url["dyno, no owner"], {**BROWSER, **REPEAT_VISITOR}), 0.95),
        Comparison("/api/ip, limit counted in process",
                   Target(f"{url['dyno, limit in process']}/api/ip", **many),
                   "/api/ip, no limit", Target(f"{url['dyno']}/api/ip", **many), 0.9),
        Comparison("/api/ip, limit counted in process, 1,000,000 IPv6 clients",
                   Target(f"{url['dyno, limit in process']}/api/ip", **million),
                   "/api/ip, no limit", Target(f"{url['dyno']}/api/ip", **million),
                   0.9),
        Comparison("/api/ip, limit counted in Redis",
                   Target(f"{url['dyno, limit in Redis']}/api/ip", **many),
                   "/api/ip, no limit", Target(f"{url['dyno']}/api/ip", **many), 0.6),
        Comparison("/api/ip", Target(f"{url['site']}/api/ip"),
                   "raw WSGI, site's settings", Target(f"{url['raw']}/"), None),
        *(
            Comparison(f"{label}, one engine for every source",
                       Target(f"{url['dyno']}{path}", headers),
                       f"the same before it ({BEFORE_SOURCES})",
                       Target(f"{url['dyno before sources']}{path}", headers), 0.97)
            for label, path, headers in (
                ("/api/ip", "/api/ip", REPEAT_VISITOR),
                ("/ as a browser asks", "/", {**BROWSER, **REPEAT_VISITOR}),
                ("/api, repeat visitor, lookups on", "/api", REPEAT_VISITOR),
                ("/api/owner, network already asked", "/api/owner", REPEAT_VISITOR),
            )
        ),
        Comparison("stylesheet, Brotli",
                   Target(f"{url['site']}{stylesheet}", {"Accept-Encoding": "br"}),
                   "raw WSGI, site's settings", Target(f"{url['raw']}/"), None),
    ]  # fmt: skip


def verdict(met: bool) -> str:
    return "✅ met" if met else "❌ missed"


def say(lines, line=""):
    lines.append(line)
    print(line, flush=True)


def pause_during(server: Server, after: float, pause: float):
    """Stops every process of `server` for `pause` seconds, `after` seconds in."""

    def schedule(loop):
        def stop():
            os.killpg(server.process.pid, signal.SIGSTOP)
            loop.call_later(pause, os.killpg, server.process.pid, signal.SIGCONT)

        loop.call_later(after, stop)

    return schedule


def latency_at_half_load(server: Server, path: str, headers, seconds: float):
    """p50, p99 and p99.9 at half the rate the site manages alone, timed from
    each request's intended send (coordinated-omission free)."""
    url = server.url + path
    maximum = wrk(Target(url, headers), seconds=3)["rps"]
    rate = round(maximum / 2)
    return rate, summary(*pinned(fixed_rate, url, rate, seconds, headers=headers))


def median_run(runs: list[tuple[int, dict]]) -> tuple[int, dict]:
    """Of (rate, figures) runs, the one with the median p99."""
    return sorted(runs, key=lambda run: run[1]["p99"])[len(runs) // 2]


def latency_row(label: str, runs: list[tuple[int, dict]], target: str) -> str:
    rate, figures = median_run(runs)
    p99s = sorted(run[1]["p99"] for run in runs)
    errors = sum(run[1]["errors"] for run in runs)
    return (
        f"| {label} | {rate} | {figures['p50']:.2f} | {figures['p99']:.2f} "
        f"| {figures['p999']:.2f} | {p99s[0]:.1f}–{p99s[-1]:.1f} | {errors} "
        f"| {target} |"
    )


def pinned(function, *args, **kwargs):
    """Runs the load generator on CLIENT_CPU, as wrk runs."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    try:
        return function(*args, **kwargs)
    finally:
        os.sched_setaffinity(0, before)


def install_as_on_a_dyno(folder: Path) -> Path:
    """A virtualenv with requirements.txt alone, as the Python buildpack installs
    it; its bin directory. Boot depends on what else is installed: as gevent
    patches each worker, it reads every installed package's entry points 25
    times looking for plugins (64 packages with the development tools, 30 on a
    dyno)."""
    venv = folder / "dyno-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "-r", ROOT / "requirements.txt"],
        check=True,
    )  # fmt: skip
    return venv / "bin"


def run(seconds: float, rounds: int) -> tuple[str, list]:
    lines, chart_rows = [], []
    say(
        lines,
        f"{rounds} rounds of {seconds} s after a warm-up; in each, the two servers "
        f"of a pair (pinned to CPU {SERVER_CPU}, {WORKERS} workers each) are loaded "
        f"at once by two wrk (CPU {CLIENT_CPU}, 1 thread, {CONNECTIONS} connections "
        "each), the first to start alternating. Ratio: the median of the rounds' "
        "ratios; range: their lowest and highest.",
    )
    say(lines)
    folder = scratch_folder("bench-")
    dns = DnsServer(folder)
    redis_server = RedisServer(folder)
    # On Heroku the Key-Value Store runs on other machines: the site pays for its
    # side of each round trip, not for Redis's work, so Redis runs beside the
    # load generators.
    subprocess.run(["taskset", "-pc", CLIENT_CPU, str(redis_server.process.pid)],
                   check=True, capture_output=True)  # fmt: skip
    servers = start_servers(dns, redis_server.url, folder)
    try:
        say(
            lines,
            "| comparison | site r/s | baseline | baseline r/s | ratio | range "
            "| errors | target |",
        )
        say(lines, "|---|---:|---|---:|---:|---:|---:|---|")
        control_ok = True
        for comparison in comparisons(servers):
            result = paired(comparison.site, comparison.baseline, seconds, rounds)
            if comparison.target is None and comparison.label.startswith("A/A"):
                control_ok = abs(result["ratio"] - 1) <= CONTROL_TOLERANCE
                goal = f"within 5 % of 1: {verdict(control_ok)}"
            elif comparison.target:
                met = result["ratio"] >= comparison.target
                goal = f"≥ {comparison.target}× {verdict(met)}"
            else:
                goal = ""
            say(
                lines,
                f"| `{comparison.label}` | {result['site']:.0f} | "
                f"{comparison.baseline_name} | {result['baseline']:.0f} | "
                f"{result['ratio']:.2f}× | {result['low']:.2f}–{result['high']:.2f} "
                f"| {result['errors']} | {goal} |",
            )
            chart_rows.append(
                (comparison.label, result["site"], comparison.baseline_name,
                 result["baseline"])
            )  # fmt: skip
        if not control_ok:
            say(lines)
            say(
                lines,
                "**The A/A control is off by more than 5 %: this run's ratios "
                "count for nothing.** Run `make bench` again on a quieter machine.",
            )

        say(lines)
        say(
            lines,
            "Latency at a fixed rate, half of what the site manages alone, for "
            f"{seconds * 2:.0f} s, timed from each request's intended send "
            "(`tools/bench/loadgen.py`, 64 connections, on CPU "
            f"{CLIENT_CPU}); the median of {LATENCY_RUNS} such runs by p99, "
            "each at a rate measured just before it, and the range of their p99:",
        )
        say(lines)
        say(
            lines,
            "| endpoint | rate r/s | p50 ms | p99 ms | p99.9 ms | p99 range | errors "
            "| target |",
        )
        say(lines, "|---|---:|---:|---:|---:|---:|---:|---|")
        rates = {}
        for path, headers in (("/api/ip", None), ("/", BROWSER)):
            runs = [
                latency_at_half_load(servers["site"], path, headers, seconds * 2)
                for _ in range(LATENCY_RUNS)
            ]
            rates[path], figures = median_run(runs)
            met = figures["p99"] < 5 and figures["p999"] < 10
            say(
                lines,
                latency_row(f"`{path}`", runs, f"p99 < 5, p99.9 < 10: {verdict(met)}"),
            )
        # What this machine and generator add of themselves: the bare WSGI
        # callable under the site's settings, at the rate /api/ip was run at.
        rate, floor = rates["/api/ip"], f"{servers['raw'].url}/"
        runs = [
            (rate, summary(*pinned(fixed_rate, floor, rate, seconds * 2)))
            for _ in range(LATENCY_RUNS)
        ]
        say(lines, latency_row("raw WSGI, site's settings, same rate", runs,
                               "the floor"))  # fmt: skip
        # The generator's proof: a 300 ms stop of the server must show in p99.
        site = servers["site"]
        figures = summary(
            *pinned(
                fixed_rate,
                f"{site.url}/api/ip",
                rate=rates["/api/ip"],
                seconds=5,
                during=pause_during(site, after=2.5, pause=0.3),
            )
        )
        say(lines)
        say(
            lines,
            f"- the generator's own check: the site stopped (SIGSTOP) for 300 ms in "
            f"a 5 s run at {rates['/api/ip']} r/s gives p99 {figures['p99']:.0f} ms "
            f"and max {figures['max']:.0f} ms (a generator that times requests "
            "from their actual send would show a few ms): "
            f"{verdict(figures['p99'] > 150)}",
        )
        rss = {name: worker_rss_mb(server) for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
        redis_server.stop()
    try:
        limit_rss = rate_limit_memory(dns)
    finally:
        dns.stop()

    # Boots alternate with the article's, whose time says how fast the host was.
    dyno_bin = install_as_on_a_dyno(folder)
    boots = {"dyno": [], "development": [], "article": []}
    for _ in range(5):
        for name, server in (
            ("dyno", lambda: start("site", f'PATH="{dyno_bin}:$PATH" {WEB_COMMAND}')),
            ("development", lambda: start("site")),
            ("article", lambda: start("article", ARTICLE, "/get_my_ip", HERE)),
        ):
            booted = server()
            boots[name].append(booted.boot_seconds)
            booted.stop()
    shutil.rmtree(dyno_bin.parent)
    boot = {name: statistics.median(seconds) for name, seconds in boots.items()}
    say(
        lines,
        f"- boot, process start to first 200, median of 5: {boot['dyno']:.2f} s "
        f"with requirements.txt alone installed, as on a dyno (target < 1.5 s: "
        f"{verdict(boot['dyno'] < 1.5)}); {boot['development']:.2f} s with the "
        f"development packages too; the article's app, booted in turn: "
        f"{boot['article']:.2f} s",
    )
    say(
        lines,
        f"- largest worker RSS: site {rss['site']:.0f} MB, article "
        f"{rss['article']:.0f} MB, httpbin {rss['httpbin']:.0f} MB "
        f"(site target < 60 MB: {verdict(rss['site'] < 60)})",
    )
    say(
        lines,
        f"- a worker's RSS with `RATE_LIMIT` on, counting in the worker: "
        f"{limit_rss[0]:.0f} MB booted, {limit_rss[1]:.0f} MB after "
        f"{SWEEP // 2:,} new IPv6 clients, {limit_rss[2]:.0f} MB after {SWEEP:,} "
        f"(target < 60 MB: {verdict(limit_rss[2] < 60)})",
    )
    return "\n".join(lines) + "\n", chart_rows


def slow_client_probe(url: str, port: int) -> float:
    """Seconds a normal request takes while 64 clients sit on half a request."""
    stalled = []
    try:
        for _ in range(64):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(HALF_A_REQUEST)
            stalled.append(sock)
        wait_for(lambda: listen_queues(port) == [0], what="all 64 accepted")
        started = time.monotonic()
        try:
            requests.get(f"{url}/api/ip", timeout=10)
        except requests.Timeout:
            return float("inf")
        return time.monotonic() - started
    finally:
        for sock in stalled:
            sock.close()


def compare_worker_classes(seconds) -> str:
    """The site under each worker class, on the measures that decided the choice."""
    lines = []
    say(
        lines,
        f"The site from its Procfile, {WORKERS} workers on CPU {SERVER_CPU}, "
        f"wrk on CPU {CLIENT_CPU}, {seconds} s a run; each class set through "
        "GUNICORN_CMD_ARGS.",
    )
    say(lines)
    say(
        lines,
        "| worker class | /api/ip r/s | p50 ms | p99 ms | a request beside 64 "
        "stalled clients | SIGTERM to exit, idle |",
    )
    say(lines, "|---|---:|---:|---:|---:|---:|")
    for worker_class in ("sync", "gthread --threads 4", "gevent"):
        server = start("site", GUNICORN_CMD_ARGS=f"-k {worker_class}")
        try:
            target = Target(f"{server.url}/api/ip")
            wrk(target, seconds=1)
            result = wrk(target, seconds=seconds)
            slow = slow_client_probe(server.url, server.port)
        finally:
            stop = server.terminate()
        slow_text = (
            "no answer in 10 s" if slow == float("inf") else f"{slow * 1000:.0f} ms"
        )
        say(
            lines,
            f"| {worker_class} | {result['rps']:.0f} | {result['p50']:.2f} "
            f"| {result['p99']:.2f} | {slow_text} | {stop:.1f} s |",
        )
    return "\n".join(lines) + "\n"


def chart(rows, path):
    """Requests per second as an SVG bar chart, photographed by Chromium."""
    chromium = shutil.which("chromium")
    if not chromium:
        print("chart skipped: Chromium is not installed (apt-get install chromium)")
        return
    from playwright.sync_api import sync_playwright

    top = max(max(site, baseline) for _, site, _, baseline in rows)
    bars, y = [], 50
    for label, site, baseline_name, baseline in rows:
        pair = (("site", site, "#1d4ed8"), (baseline_name, baseline, "#9ca3af"))
        for name, rps, colour in pair:
            width = 520 * rps / top
            bars.append(
                f'<text x="10" y="{y + 14}">{label if name == "site" else ""}</text>'
                f'<rect x="220" y="{y}" width="{width:.0f}" height="18" '
                f'fill="{colour}"/>'
                f'<text x="{226 + width:.0f}" y="{y + 14}">{rps:.0f} · {name}</text>'
            )
            y += 22
        y += 12
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="{y}" '
        'font-family="sans-serif" font-size="13"><rect width="100%" height="100%" '
        'fill="#fff"/><text x="10" y="28" font-size="16" font-weight="bold">'
        "Requests per second: the site (blue) and its baseline (grey)</text>"
        + "".join(bars)
        + "</svg>"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1000, "height": y})
        page.set_content(svg)
        page.screenshot(path=path)
        browser.close()


def replace_between_markers(path: Path, name: str, text: str):
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    content = path.read_text()
    before, rest = content.split(start, 1)
    path.write_text(before + start + text + rest[rest.index(end) :])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--worker-classes", action="store_true")
    options = parser.parse_args()
    for tool, package in (
        ("wrk", "wrk"),
        ("dnsmasq", "dnsmasq-base"),
        ("redis-server", "redis-server"),
        ("openssl", "openssl"),
    ):
        if not shutil.which(tool):
            sys.exit(f"make bench needs {tool}: apt-get install {package}")
    DOCS.mkdir(exist_ok=True)
    command = "make bench-workers" if options.worker_classes else "make bench"
    stamp = f"Measured by `{command}` on {time.strftime('%Y-%m-%d')}. "
    if options.worker_classes:
        table = compare_worker_classes(options.seconds)
        replace_between_markers(DOCS / "performance.md", "workers", stamp + table)
        return
    table, rows = run(options.seconds, options.rounds)
    replace_between_markers(ROOT / "README.md", "bench", stamp + table)
    replace_between_markers(DOCS / "performance.md", "bench", stamp + table)
    chart(rows, DOCS / "benchmark.png")


if __name__ == "__main__":
    main()
