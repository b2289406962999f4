"""Every page names its icon, and /favicon.ico (asked for by anything that ignores the link)
leads to it instead of a 404 in every log."""

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static

pytestmark = pytest.mark.django_db


def test_the_sign_in_page_links_an_icon_that_exists(client):
    page = client.get("/login/").content.decode()
    for name in ("img/favicon.svg", "img/favicon.ico"):
        assert f'rel="icon" href="{static(name)}"' in page
        assert finders.find(name)


def test_favicon_ico_redirects_to_the_static_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == static("img/favicon.ico")
