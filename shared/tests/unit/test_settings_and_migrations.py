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


def test_migrations_run_as_the_owner_role(monkeypatch: pytest.MonkeyPatch) -> None:
    from billing.settings import BillingSettings
    from propfee.settings import LOCAL_PG, LOCAL_PG_OWNER, migration_url_for, role_of

    monkeypatch.delenv("BILLING_DATABASE_URL", raising=False)
    monkeypatch.delenv("BILLING_MIGRATION_DATABASE_URL", raising=False)
    local = BillingSettings()
    assert local.database_url == f"{LOCAL_PG}/billing"
    assert local.migration_url == f"{LOCAL_PG_OWNER}/billing", "the local owner role"
    assert role_of(local.database_url) == "propfee"
    assert role_of(local.migration_url) == "propfee_owner"
    # A test database on the local server: the same database, as the owner.
    assert migration_url_for(f"{LOCAL_PG}/t1_x_0") == f"{LOCAL_PG_OWNER}/t1_x_0"
    # Any other server: the URL itself (one role) unless the owner's URL is configured.
    monkeypatch.setenv("BILLING_DATABASE_URL", "postgresql://billing_app:s1@db:5432/billing")
    assert BillingSettings().migration_url == "postgresql://billing_app:s1@db:5432/billing"
    monkeypatch.setenv(
        "BILLING_MIGRATION_DATABASE_URL", "postgresql://billing_owner:s2@db:5432/billing"
    )
    settings = BillingSettings()
    assert settings.migration_url == "postgresql://billing_owner:s2@db:5432/billing"
    assert role_of(settings.database_url) == "billing_app"
    assert role_of("postgresql://a%40b:x@db/billing") == "a@b"
