"""The app boots without its dependencies: alive at once, not ready, never crashing."""

from fastapi.testclient import TestClient

from dunning.app import create_app
from dunning.settings import DunningSettings


def test_alive_but_not_ready_without_database_or_kafka() -> None:
    settings = DunningSettings(
        database_url="postgresql://nobody:x@127.0.0.1:9/none",
        kafka_bootstrap_servers="127.0.0.1:9",
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok", "service": "dunning"}
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not ready"
        assert "openapi" in client.get("/openapi.json").json()
        assert b"propfee_ready" in client.get("/metrics").content
