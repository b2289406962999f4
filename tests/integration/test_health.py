import pytest


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_answers_503_when_the_broker_is_unreachable(client, broker_down):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "down"


@pytest.mark.django_db
def test_healthz_recovers_when_the_broker_is_back(client, broker_down, monkeypatch):
    assert client.get("/healthz").status_code == 503
    monkeypatch.undo()
    from config.celery_app import app

    app._pool = None
    assert client.get("/healthz").status_code == 200
