"""Where the tests and the benchmark keep what they make outside the working
tree: one folder per run, removed when the run ends, so that a run leaves the
temporary directory as it found it (a server killed mid-test included)."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

FOLDER = Path(tempfile.mkdtemp(prefix="whatismyip-tests-"))
OWNER = os.getpid()


@atexit.register
def _remove_folder():
    # A forked process (make mutants forks its workers) inherits this hook;
    # only the process that made the folder removes it.
    if os.getpid() == OWNER:
        shutil.rmtree(FOLDER, ignore_errors=True)


def scratch_folder(prefix: str) -> Path:
    """A fresh folder of this run's, private (mode 0700) like mkdtemp's."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=FOLDER))
