"""`make bench`: the site, booted from its Procfile, against baselines served in
the same run with the same number of workers, measured A B A B so that drift
cancels, and reported as ratios. Not a test: it asserts nothing, it reports.

The machine has two cores: every server is pinned to CPU 0 and wrk, with one
thread, to CPU 1, so the load generator never takes the server's share.

    python tests/bench/bench.py [--seconds 5] [--rounds 3]
    python tests/bench/bench.py --worker-classes
"""

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the tests' helpers, shared with the bench
from serving import ROOT, WEB_COMMAND, Server, listen_queues, wait_for  # noqa: E402

HTTPBIN_VENV = ROOT / ".venv-httpbin"
DOCS = ROOT / "docs"
SERVER_CPU, CLIENT_CPU = "0", "1"
WORKERS = "2"  # the article's `gunicorn -w 2`, and what Heroku gives a small dyno
CONNECTIONS = 16
BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0",
    "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
    "Accept-Encoding": "gzip, deflate, br",
}
ARGS = "a=1&b=two&c=%C3%BC"
GUNICORN = f"{sys.prefix}/bin/gunicorn --bind 127.0.0.1:{{port}} --no-control-socket"
HALF_A_REQUEST = b"GET /api HTTP/1.1\r\nHost: slow.example\r\n"


def start(name, command=WEB_COMMAND, probe="/healthz", cwd=ROOT, **env) -> Server:
    """A server pinned to SERVER_CPU, with as many workers as every other."""
    log = Path(tempfile.mkdtemp(prefix="bench-")) / f"{name}.log"
    server = Server(
        log,
        command,
        cwd=cwd,
        probe=probe,
        cpu=SERVER_CPU,
        WEB_CONCURRENCY=WORKERS,
        **env,
    )
    server.name = name
    return server


def worker_rss_mb(server: Server) -> float:
    return max(
        int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())[1])
        / 1024
        for pid in server.workers()
    )


def wrk(url, headers=None, seconds=5) -> dict:
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{CONNECTIONS}"]
    command += [f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True
    ).stdout

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
        "errors": sum(map(int, errors.groups())) if errors else 0,
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
    }


def summarise(runs) -> dict:
    """Medians of the rounds; errors and non-2xx answers added up."""
    return {
        "rps": statistics.median(run["rps"] for run in runs),
        "p50": statistics.median(run["p50"] for run in runs),
        "p99": statistics.median(run["p99"] for run in runs),
        "errors": sum(run["errors"] + run["non_2xx"] for run in runs),
    }


def ab(site_target, baseline_target, seconds, rounds):
    """A B, then B A, and so on, so that drift over the run cancels."""
    for target in (site_target, baseline_target):
        wrk(*target, seconds=1)  # warm-up
    site_runs, baseline_runs = [], []
    for round_number in range(rounds):
        order = [(site_target, site_runs), (baseline_target, baseline_runs)]
        for target, runs in order if round_number % 2 == 0 else order[::-1]:
            runs.append(wrk(*target, seconds=seconds))
    return summarise(site_runs), summarise(baseline_runs)


def ensure_httpbin():
    """httpbin pins an older greenlet than the site's gevent: its own venv."""
    if not (HTTPBIN_VENV / "bin" / "gunicorn").exists():
        subprocess.run([sys.executable, "-m", "venv", HTTPBIN_VENV], check=True)
        pip = [HTTPBIN_VENV / "bin" / "pip", "install", "--quiet"]
        subprocess.run([*pip, "-r", HERE / "requirements-httpbin.txt"], check=True)


def start_servers():
    ensure_httpbin()
    return {
        "site": start("site"),
        "article": start(
            "article", f"{GUNICORN} -w {WORKERS} apps:article", "/get_my_ip", HERE
        ),
        "raw": start(
            "raw WSGI", f"{GUNICORN} -c {ROOT}/gunicorn.conf.py apps:raw", "/", HERE
        ),
        "httpbin": start(
            "httpbin",
            f"{HTTPBIN_VENV}/bin/gunicorn --bind 127.0.0.1:{{port}} -w {WORKERS} "
            "-k gevent httpbin:app",
            "/get",
            HERE,
        ),
    }


def comparisons(servers):
    """(endpoint, site request, baseline name, baseline request, target ratio)"""
    site, article, raw, httpbin = (
        servers[name].url for name in ("site", "article", "raw", "httpbin")
    )
    page = requests.get(site, headers=BROWSER, timeout=10).text
    stylesheet = re.search(r'href="(/static/style\.[0-9a-f]{12}\.css)"', page)[1]
    return [
        ("/api/ip", (f"{site}/api/ip",), "article's Flask, /get_my_ip",
         (f"{article}/get_my_ip",), 1.3),
        ("/api/ip", (f"{site}/api/ip",), "raw WSGI, site's settings",
         (f"{raw}/",), 0.6),
        ("/ as a browser asks", (f"{site}/", BROWSER), "article's Flask page",
         (f"{article}/", BROWSER), 1.3),
        (f"/api?{ARGS}", (f"{site}/api?{ARGS}",), "httpbin /get, same query",
         (f"{httpbin}/get?{ARGS}",), 2.0),
        ("stylesheet, Brotli", (f"{site}{stylesheet}", {"Accept-Encoding": "br"}),
         "raw WSGI, site's settings", (f"{raw}/",), None),
        ("/healthz", (f"{site}/healthz",), "raw WSGI, site's settings",
         (f"{raw}/",), None),
    ]  # fmt: skip


def verdict(met: bool) -> str:
    return "✅ met" if met else "❌ missed"


def comparison_row(label, site, baseline_name, baseline, target) -> str:
    ratio = site["rps"] / baseline["rps"]
    goal = f"≥ {target}× {verdict(ratio >= target)}" if target else ""
    return (
        f"| `{label}` | {site['rps']:.0f} | {site['p50']:.2f} | {site['p99']:.2f} "
        f"| {site['errors']} | {baseline_name} | {baseline['rps']:.0f} "
        f"| {ratio:.2f}× | {goal} |"
    )


def say(lines, line=""):
    lines.append(line)
    print(line, flush=True)


def run(seconds, rounds) -> tuple[str, list]:
    lines, chart_rows = [], []
    say(
        lines,
        f"{rounds} rounds of {seconds} s each, A B then B A, medians; "
        f"servers on CPU {SERVER_CPU}, wrk (1 thread, {CONNECTIONS} connections) "
        f"on CPU {CLIENT_CPU}; {WORKERS} workers each.",
    )
    say(lines)
    say(
        lines,
        "| endpoint | site r/s | p50 ms | p99 ms | errors | baseline "
        "| baseline r/s | ratio | target |",
    )
    say(lines, "|---|---:|---:|---:|---:|---|---:|---:|---|")
    servers = start_servers()
    try:
        p99s = []
        for label, mine, baseline_name, theirs, target in comparisons(servers):
            site, baseline = ab(mine, theirs, seconds, rounds)
            say(lines, comparison_row(label, site, baseline_name, baseline, target))
            chart_rows.append((label, site["rps"], baseline_name, baseline["rps"]))
            p99s.append(site["p99"])

        say(lines)
        say(
            lines,
            "| `/api` with N args | r/s | p50 ms | p99 ms | errors | µs per arg |",
        )
        say(lines, "|---:|---:|---:|---:|---:|---:|")
        first_rps = None
        for count in (1, 10, 100, 1000):
            query = "&".join(f"{i}={i}" for i in range(count))  # 1000 fit in 8 KB
            url = f"{servers['site'].url}/api?{query}"
            result = summarise([wrk(url, seconds=seconds) for _ in range(rounds)])
            first_rps = first_rps or result["rps"]
            per_arg = (1e6 / result["rps"] - 1e6 / first_rps) / (count - 1 or 1)
            per_arg_text = f"{per_arg:.2f}" if count > 1 else ""
            say(
                lines,
                f"| {count} | {result['rps']:.0f} | {result['p50']:.2f} "
                f"| {result['p99']:.2f} | {result['errors']} | {per_arg_text} |",
            )
        rss = {name: worker_rss_mb(server) for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()

    boots = []
    for _ in range(5):
        server = start("site")
        boots.append(server.boot_seconds)
        server.stop()
    boot = statistics.median(boots)
    say(lines)
    say(
        lines,
        f"- p99 at {CONNECTIONS} connections, worst site endpoint: "
        f"{max(p99s):.2f} ms (target < 10 ms: {verdict(max(p99s) < 10)})",
    )
    say(
        lines,
        f"- boot, process start to first 200: {boot:.2f} s, median of 5 "
        f"(target < 1.5 s: {verdict(boot < 1.5)})",
    )
    say(
        lines,
        "- largest worker RSS: "
        + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items())
        + f" (site target < 60 MB: {verdict(rss['site'] < 60)})",
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
            wrk(f"{server.url}/api/ip", seconds=1)
            result = wrk(f"{server.url}/api/ip", seconds=seconds)
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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker-classes", action="store_true")
    options = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("make bench needs wrk: apt-get install wrk")
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
