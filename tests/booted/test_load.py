"""Load and faults, on loopback only, every loop bounded in time."""

import http.client
import os
import signal
import socket
import threading
import time
from collections import Counter

import requests

from support.serving import listen_queues, wait_for

HALF_A_REQUEST = b"GET /api HTTP/1.1\r\nHost: slow.example\r\nUser-Agent: slow\r\n"


def hammer(port: int, seconds: float, keep_alive: bool, outcomes: Counter):
    """One client: requests on one connection (or a new one each) until time is up.
    Counts answers by status, and everything that went wrong by its kind, into
    `outcomes` as they happen."""
    deadline = time.monotonic() + seconds
    connection = None
    while time.monotonic() < deadline:
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.connect()
                outcomes["connections"] += 1
            headers = {} if keep_alive else {"Connection": "close"}
            connection.request("GET", "/api/ip", headers=headers)
            response = connection.getresponse()
            body = response.read()
            outcomes[response.status] += 1
            if response.status == 200 and not body.startswith(b"{"):
                outcomes["malformed"] += 1
            if response.will_close:
                if keep_alive:
                    outcomes["closed by server"] += 1
                connection.close()
                connection = None
        except ConnectionRefusedError:
            outcomes["refused"] += 1
            time.sleep(0.01)
            connection = None
        except (OSError, http.client.HTTPException) as error:
            outcomes[type(error).__name__] += 1
            connection = None
    if connection is not None:
        connection.close()


def run_clients(count: int, seconds: float, port: int, keep_alive: bool = True):
    results = [Counter() for _ in range(count)]
    threads = [
        threading.Thread(target=hammer, args=(port, seconds, keep_alive, outcomes))
        for outcomes in results
    ]
    for thread in threads:
        thread.start()
    return threads, results


def total(results) -> Counter:
    return sum(results, Counter())


def join_all(threads, timeout: float):
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a client never finished"


def stall(port: int, count: int) -> list[socket.socket]:
    """`count` clients that send half a request and wait, each accepted by the
    server (the listening socket's queue is empty) before this returns."""
    clients = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        sock.sendall(HALF_A_REQUEST)
        clients.append(sock)
    wait_for(lambda: listen_queues(port) == [0], what="the server accepted them all")
    return clients


def test_200_keep_alive_connections_for_10_seconds_without_an_error(start_server):
    server = start_server()
    threads, results = run_clients(200, 10, server.port)
    join_all(threads, 30)
    outcome = total(results)
    assert outcome[200] > 1000, outcome
    assert set(outcome) == {200, "connections"}, outcome  # no error of any kind
    assert outcome["connections"] == 200  # every connection was kept alive


def test_slow_clients_do_not_stop_a_normal_request(local):
    slow = stall(local.port, 64)
    try:
        for _ in range(5):
            started = time.monotonic()
            response = requests.get(f"{local.url}/api/ip", timeout=10)
            assert response.status_code == 200
            assert time.monotonic() - started < 1
        # The slow ones are served too once they finish.
        for sock in slow[:8]:
            sock.sendall(b"\r\n")
            assert sock.recv(64).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in slow:
            sock.close()


def test_sigterm_under_load_lets_requests_in_flight_finish(start_server):
    server = start_server()
    wait_for(lambda: len(server.booted_workers()) == 2, what="both workers booted")
    in_flight = stall(server.port, 16)
    threads, results = run_clients(16, 4, server.port, keep_alive=False)
    wait_for(lambda: total(results)[200] > 0, what="the load is answered")

    took = {}
    stopper = threading.Thread(target=lambda: took.setdefault("s", server.terminate()))
    stopper.start()
    # Every process has closed the listening socket, so every worker has its
    # SIGTERM; now the requests in flight finish.
    wait_for(lambda: not listen_queues(server.port), what="listening stopped")
    answers = []
    for sock in in_flight:
        sock.sendall(b"\r\n")
        answers.append(sock.recv(4096))
        sock.close()
    join_all([stopper], 35)
    join_all(threads, 15)

    assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in answers), answers
    outcome = total(results)
    assert outcome[200] > 100, outcome
    assert not {status for status in outcome if isinstance(status, int)} - {200}, (
        outcome
    )
    assert outcome["malformed"] == 0
    assert server.process.returncode == 0
    assert took["s"] < 15, (
        f"exit took {took['s']:.1f} s; Heroku's SIGKILL comes at 30 s"
    )


def wait_for_workers(server, count: int, gone: int = 0) -> set[int]:
    return wait_for(
        lambda: (
            len(workers := server.booted_workers()) == count
            and gone not in workers
            and workers
        ),
        what=f"{count} workers serving",
    )


def test_a_killed_worker_is_replaced_and_the_site_keeps_answering(start_server):
    server = start_server(WEB_CONCURRENCY="2")
    before = wait_for_workers(server, 2)
    clients = 4
    threads, results = run_clients(clients, 3, server.port, keep_alive=False)
    wait_for(lambda: total(results)[200] > 0, what="the load is answered")
    victim = min(before)
    os.kill(victim, signal.SIGKILL)

    wait_for_workers(server, 2, gone=victim)
    join_all(threads, 15)
    outcome = total(results)
    assert outcome[200] > 100, outcome
    # Only requests that the killed worker held can be lost: each client has at
    # most one in flight, so at most one a client. Never a 5xx.
    assert {key for key in outcome if isinstance(key, int)} == {200}, outcome
    lost = sum(v for k, v in outcome.items() if k not in (200, "connections"))
    assert lost <= clients, outcome
    for _ in range(20):
        assert requests.get(f"{server.url}/api/ip", timeout=10).status_code == 200
    assert f"Worker (pid:{victim})" in server.log()
