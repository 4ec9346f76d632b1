"""A fixed-rate load generator whose latencies are free of coordinated omission.

Request i is due at start + i / rate. Its latency is counted from that intended
time, not from when it was actually sent, so a server that stalls is charged for
every request that should have gone out meanwhile, as a user would feel it (the
method of wrk2 and HdrHistogram). wrk's latencies at saturation measure its own
queue instead, and h2load's rate mode times requests from their actual send.

    python tools/bench/loadgen.py URL RATE SECONDS
"""

import asyncio
import selectors
import sys
import time
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the values lie (nearest rank)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


async def _connection(host, port, request, schedule, latencies, errors):
    """One keep-alive connection: takes the next due request, waits for its
    time if early, sends it, and records the latency from its intended time."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (due := next(schedule, None)) is not None:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 2"):
                errors.append(head.split(b"\r\n", 1)[0])
            latencies.append(time.perf_counter() - due)
    finally:
        writer.close()


async def _run(url, rate, seconds, connections, headers):
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target or '/'} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    start = time.perf_counter() + 0.05
    schedule = iter([start + i / rate for i in range(int(rate * seconds))])
    latencies, errors = [], []
    await asyncio.gather(
        *(
            _connection(
                parts.hostname, parts.port, request, schedule, latencies, errors
            )
            for _ in range(connections)
        )
    )
    return sorted(latencies), errors


def fixed_rate(url, rate, seconds, connections=64, headers=None, during=None):
    """Latencies (seconds, sorted) of `rate` requests a second for `seconds`.
    `during(loop)`, if given, is scheduled on the generator's loop (a fault to
    inject mid-run). Enough connections must be open for the rate to be kept
    while some wait: with too few, requests queue here, and that is counted."""

    async def main():
        if during:
            during(asyncio.get_running_loop())
        return await _run(url, rate, seconds, connections, headers)

    # epoll rounds each timeout up to a whole millisecond, which would send every
    # request late and charge the server for it; select(2) keeps microseconds.
    return asyncio.run(
        main(),
        loop_factory=lambda: asyncio.SelectorEventLoop(selectors.SelectSelector()),
    )


def summary(latencies: list[float], errors: list) -> dict:
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "p50": percentile(latencies, 0.50) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "p999": percentile(latencies, 0.999) * 1000,
        "max": (latencies[-1] if latencies else float("nan")) * 1000,
    }


if __name__ == "__main__":
    url, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    result = summary(*fixed_rate(url, rate, seconds))
    print(", ".join(f"{key} {value:.2f}" for key, value in result.items()))
