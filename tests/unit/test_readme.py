"""The README shows what the site does: the dynamic-DNS recipe, exactly as
the booted test runs it."""

from support.clients import DDNS_RECIPE
from support.serving import ROOT

# The README's recipe, with `echo` standing for the DNS update.


def test_the_readme_shows_the_ddns_recipe():
    readme = (ROOT / "README.md").read_text()
    shown = DDNS_RECIPE.replace("URL", "https://<app>.herokuapp.com/ip").replace(
        'echo "changed: $(cat ip.txt)"', 'update-my-dns "$(cat ip.txt)"'
    )
    assert shown in readme
