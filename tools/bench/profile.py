"""`make profile`: where a worker of the site spends its time under wrk's load.

Boots the Procfile's web line with one worker, loads /api/ip (or the path given)
from the other core, samples the worker with py-spy, writes docs/profile.svg
and prints the functions that take the most time, callees included.
"""

import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from bench import DOCS, Target, start, wrk


def main(path="/api/ip", seconds=5):
    server = start("site", WEB_CONCURRENCY="1")
    worker = str(min(server.workers()))
    load = threading.Thread(
        target=wrk, args=(Target(server.url + path),), kwargs={"seconds": seconds + 2}
    )
    load.start()
    raw = Path(tempfile.mkdtemp()) / "profile.txt"
    py_spy = [
        sys.prefix + "/bin/py-spy",
        "record",
        "--pid",
        worker,
        "--duration",
        str(seconds),
        "--nonblocking",
    ]
    try:
        subprocess.run(
            [*py_spy, "--format", "raw", "--output", raw],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*py_spy, "--output", DOCS / "profile.svg"], check=True, capture_output=True
        )
    finally:
        load.join()
        server.stop()
    inclusive, total = Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # a frame name that spilled onto its own line
            continue
        total += int(count)
        for frame in set(stack.split(";")):
            inclusive[frame] += int(count)
    print(f"{path}: {total} samples; time in each function, callees included:")
    for frame, count in inclusive.most_common(30):
        print(f"{count / total:6.1%}  {frame}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
