"""Mounted at ``/accounts/tokens/`` (config/urls.py): the page sits with the account pages."""

from django.urls import path

from api import pages

app_name = "api_keys"

urlpatterns = [
    path("", pages.api_tokens, name="list"),
    path("<int:token_id>/revoke/", pages.api_token_revoke_own, name="revoke"),
]
