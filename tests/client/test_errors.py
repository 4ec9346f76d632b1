"""A failure inside the app: the app from its factory, as nothing in the deployed
site can be made to fail on purpose."""

import pytest

from whatismyip import report


@pytest.fixture
def broken_client(client, monkeypatch):
    def fail(pairs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(report, "group_args", fail)
    return client


def test_a_failure_under_api_is_a_json_500_without_details(broken_client):
    response = broken_client.get("/api")
    assert response.status_code == 500
    assert response.json["error"]["status"] == 500
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text


def test_a_failure_on_the_page_is_an_html_500_page(broken_client):
    response = broken_client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 500
    assert response.content_type == "text/html; charset=utf-8"
    assert "500 Internal Server Error" in response.text
    assert "secret detail" not in response.text
