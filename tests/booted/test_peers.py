"""Scripts written for the peers, run with the real curl against the booted
site: their URLs, and the README's dynamic-DNS recipe with ETags."""

import subprocess

from support.clients import DDNS_RECIPE


def test_the_ddns_recipe_in_the_readme_with_the_real_curl(local, tmp_path):
    """Exactly as the README shows it: curl keeps the tag, and a script acts
    only when curl says 200. From 127.0.0.1, then from ::1: a new address."""

    def check(base):
        return subprocess.run(
            ["sh", "-c", DDNS_RECIPE.replace("URL", f"{base}/ip")],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout

    assert check(local.url) == "changed: 127.0.0.1\n"
    assert check(local.url) == ""  # a 304: nothing to do
    assert check(local.url6) == "changed: ::1\n"
    assert check(local.url6) == ""
    assert (tmp_path / "ip.txt").read_text() == "::1\n"


# The README's recipe, with `echo` standing for the DNS update.


def test_the_peers_urls_with_the_real_curl(local):
    def curl(*args):
        return subprocess.run(
            ["curl", "-s", "-f", *args], capture_output=True, text=True, timeout=30
        )

    assert curl(f"{local.url}/json").stdout.startswith('{\n  "ip": "127.0.0.1",')
    assert curl(f"{local.url}/?format=json").stdout.startswith("{")
    assert curl(f"{local.url}/ua").stdout == f"curl/{curl_version()}\n"
    assert curl(f"{local.url}/1.1.1.1/country").stdout == "AU\n"
    assert curl(f"{local.url}/127.0.0.1/country").returncode == 22  # a 404: none
    assert curl(f"{local.url}/robots.txt").stdout.startswith("# ")


def curl_version() -> str:
    return subprocess.run(
        ["curl", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
