import pytest

from propfee.db import MigrationError, load_migrations, service_migrations
from propfee.settings import ServiceSettings


def test_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("PROPFEE_TOPIC_PREFIX", "staging.")
    settings = ServiceSettings()
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.topic_prefix == "staging."


def test_service_settings_use_their_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    from billing.settings import BillingSettings

    monkeypatch.setenv("BILLING_DATABASE_URL", "postgresql://u:secret@db:5432/billing")
    monkeypatch.setenv("BILLING_HTTP_PORT", "9101")
    settings = BillingSettings()
    assert settings.database_url.endswith("/billing")
    assert settings.http_port == 9101
    assert "secret" not in settings.database_url_for_logs()


def test_every_service_has_ordered_migrations() -> None:
    for package in ("billing", "payments", "dunning", "notifier"):
        migrations = service_migrations(package)
        assert migrations[0].namespace == "propfee"
        assert next(m.version for m in migrations if m.namespace == package) == 1


def test_gaps_are_refused(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    pkg = tmp_path / "gappy"
    (pkg / "migrations").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "migrations" / "0001_a.sql").write_text("select 1;")
    (pkg / "migrations" / "0003_c.sql").write_text("select 1;")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MigrationError, match="0003 found where 0002"):
        load_migrations("gappy", "gappy")
