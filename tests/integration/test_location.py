"""Where an address is, from a database in DB-IP's layout that the tests
build: the fields, the text routes, and the site with and without the file."""

import datetime

import pytest

from support.city_database import LOCATED
from support.clients import BROWSER, CURL
from whatismyip.geodata import months

THIS_MONTH, LAST_MONTH = months(datetime.date.today())
# The Python running the tests, as `python` for bin/post_compile.


def test_a_located_address_has_its_place_and_time_zone(client):
    facts = client.get("/api/lookup/193.0.6.139").json
    assert {field: facts[field] for field in LOCATED} == {
        "city": "Amsterdam",
        "region": "North Holland",
        "geo_country": "NL",
        "latitude": 52.3676,
        "longitude": 4.9041,
        "time_zone": "Europe/Amsterdam",
        "geo_source": {"name": "DB-IP IP to City Lite", "month": THIS_MONTH},
    }
    assert facts["country"] == "NL"  # registered there too
    assert facts["unavailable"] == []


def test_registered_and_located_are_told_apart(client):
    facts = client.get("/api/lookup/1.1.1.1").json
    assert (facts["country"], facts["geo_country"]) == ("AU", "US")
    page = client.get("/lookup?address=1.1.1.1", headers=BROWSER).text
    assert "Los Angeles, California," in page
    assert "United States</span> <span class=\"note\">(its block is registered " \
        "to Australia)" in page  # fmt: skip
    assert (
        '<a href="https://www.openstreetmap.org/?mlat=34.0522&amp;mlon=-118.2437'
        '#map=10/34.0522/-118.2437">'
    ) in page
    assert 'IP Geolocation by <a href="https://db-ip.com">DB-IP</a>' in page
    assert "(America/Los_Angeles)" in page


def test_a_country_alone_is_all_that_is_said(client):
    facts = client.get("/api/lookup/9.9.9.9").json
    assert facts["geo_country"] == "CH"
    assert [facts[field] for field in LOCATED[:1] + LOCATED[3:6]] == [None] * 4


def test_private_addresses_get_nulls_without_a_lookup(client):
    facts = client.get("/api/lookup/10.1.2.3").json
    assert [facts[field] for field in LOCATED[:6]] == [None] * 6
    assert facts["unavailable"] == []


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/city", 200, "Mountain View\n"),
        ("/region", 200, "California\n"),
        ("/coordinates", 200, "37.4056,-122.0775\n"),
        ("/timezone", 200, "America/Los_Angeles\n"),
        ("/193.0.6.139/timezone", 200, "Europe/Amsterdam\n"),
        ("/9.9.9.9/city", 404, "No city is known for 9.9.9.9."),
        ("/9.9.9.9/coordinates", 404, "No location is known for 9.9.9.9."),
    ],
)
def test_text_routes_for_scripts(client, path, status, text):
    answer = client.get(path, headers=CURL, environ_base={"REMOTE_ADDR": "8.8.8.8"})
    assert answer.status_code == status
    assert text in answer.text


def test_without_the_database_location_is_unavailable_and_said(make_app, tmp_path):
    client = make_app(GEO_DB=tmp_path / "none.mmdb").test_client()
    facts = client.get("/api/lookup/8.8.8.8").json
    assert facts["geo_source"] is None
    assert facts["unavailable"] == LOCATED[:6]
    answer = client.get("/city", headers=CURL, environ_base={"REMOTE_ADDR": "8.8.8.8"})
    assert answer.status_code == 503
    assert "no location database installed" in answer.text
    page = client.get("/lookup?address=8.8.8.8", headers=BROWSER).text
    assert "No location database is installed" in page


def test_a_file_that_is_no_database_is_said_and_not_used(make_app, tmp_path, caplog):
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"not an mmdb file")
    client = make_app(GEO_DB=broken).test_client()
    assert client.get("/api/lookup/8.8.8.8").json["geo_source"] is None
    assert "cannot be read (InvalidDatabaseError)" in caplog.text


def test_location_can_be_turned_off(make_app):
    client = make_app(LOOKUPS=frozenset({"country"})).test_client()
    answer = client.get("/city", headers=CURL, environ_base={"REMOTE_ADDR": "8.8.8.8"})
    assert answer.status_code == 404
    assert "does not look up the city" in answer.text
