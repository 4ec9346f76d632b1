"""The access log (whatismyip/web/access_log.py, which gunicorn.conf.py names):
one line a request, whole, with nothing a client sent able to forge or split it."""

import contextlib
import os
import signal
import threading
import time

import pytest

from whatismyip.web import access_log


@pytest.mark.parametrize(
    ("sent", "logged"),
    [
        (
            "2c6c5b2f-8a43-4bd6-9d5f-0f1f1d8e3c7a",
            "2c6c5b2f-8a43-4bd6-9d5f-0f1f1d8e3c7a",
        ),
        ("a" * 20, "a" * 20),
        ("a" * 200, "a" * 200),
        ("a" * 19, "-"),
        ("a" * 201, "-"),
        ("", "-"),
        ('forged "GET /admin HTTP/1.1" 200', "-"),
        ("abcdefghijklmnopqrst\nX", "-"),
    ],
)
def test_only_an_id_like_request_id_is_logged(sent, logged):
    assert access_log.request_id({"HTTP_X_REQUEST_ID": sent}) == logged


@pytest.fixture
def log_pipes(monkeypatch):
    """The access log writing its lines to a pipe of the test's, and its
    complaints to another."""
    stdout_read, stdout_write = os.pipe()
    stderr_read, stderr_write = os.pipe()
    monkeypatch.setattr(access_log, "STDOUT", stdout_write)
    monkeypatch.setattr(access_log, "STDERR", stderr_write)
    yield access_log, stdout_read, stderr_read
    for fd in (stdout_read, stderr_read, stdout_write, stderr_write):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_a_line_cut_short_by_a_signal_is_written_whole(log_pipes):
    """A write that a signal interrupts returns what it wrote so far: the rest
    must follow, or the log gets half a line and the next one glued to it."""
    module, stdout_read, _ = log_pipes
    line = b"".join(b"%07d " % n for n in range(200_000)) + b"\n"  # 1.6 MB
    received = bytearray()

    def read_slowly():
        while chunk := os.read(stdout_read, 65536):
            received.extend(chunk)
            time.sleep(0.0005)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    interrupted = []
    previous = signal.signal(signal.SIGALRM, lambda *_: interrupted.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    try:
        module.write_line(line)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.close(module.STDOUT)
        reader.join()
    assert interrupted  # the write was interrupted, and went on
    assert bytes(received) == line


def test_a_failed_write_loses_the_line_not_the_request(log_pipes):
    module, stdout_read, stderr_read = log_pipes
    os.close(stdout_read)  # nobody reads the log: a broken pipe
    module.write_line(b"GET / 200\n")
    assert os.read(stderr_read, 4096) == b"Access log line lost: Broken pipe\n"


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/api", "/api"),
        ('/a"b', "/a\\x22b"),
        ("/a b", "/a\\x20b"),
        ("/\x1b[31m", "/\\x1b[31m"),
        ("/back\\slash", "/back\\x5cslash"),
    ],
)
def test_paths_are_escaped_in_the_log(path, logged):
    assert access_log.log_safe(path) == logged
