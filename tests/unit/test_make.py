"""The two commands a newcomer runs: `make` picks the Python the site runs on
Heroku (.python-version), or stops at once and says how to get it."""

import shutil
import subprocess
import sys

from support.serving import ROOT

RUNNING = f"{sys.version_info[0]}.{sys.version_info[1]}"


def project_copy(folder, python_version: str):
    for name in ("Makefile", "requirements.txt", "Procfile"):
        shutil.copy(ROOT / name, folder)
    (folder / ".python-version").write_text(f"{python_version}\n")
    return folder


def make(folder, *targets, **variables):
    return subprocess.run(
        ["make", *targets, *(f"{name}={value}" for name, value in variables.items())],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_the_python_it_needs_make_stops_at_once_and_says_how(tmp_path):
    result = make(project_copy(tmp_path, "3.99"), "run")
    assert result.returncode != 0
    assert (
        "make needs Python 3.99 (.python-version, as on Heroku); none was found. "
        "Install it (apt install python3.99, brew install python@3.99 or pyenv "
        "install 3.99) or name it: make PYTHON=/path/to/python3.99"
    ) in result.stderr
    assert not (tmp_path / ".venv").exists()


def test_a_python_named_outright_is_checked_too(tmp_path):
    result = make(project_copy(tmp_path, "3.99"), "run", PYTHON=sys.executable)
    assert result.returncode != 0
    assert (
        f"make needs Python 3.99 (.python-version, as on Heroku); {sys.executable} "
        "is not it."
    ) in result.stderr


def test_a_venv_made_with_another_python_is_made_again(tmp_path):
    folder = project_copy(tmp_path, RUNNING)
    stale = folder / ".venv" / "bin"
    stale.mkdir(parents=True)
    (stale / "python").write_text("#!/bin/sh\necho 'Python 3.11.2'\n")
    result = make(folder, f".venv/.python-{RUNNING}", PYTHON=sys.executable)
    assert result.returncode == 0, result.stderr
    made = subprocess.run(
        [folder / ".venv" / "bin" / "python", "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert made.stdout.startswith(RUNNING)
