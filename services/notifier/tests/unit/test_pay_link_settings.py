"""Pay-link settings: no built-in secret outside development; a demand's link outlives its
deadline; SMS prints links without the scheme."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.service_layer import pay_links
from notifier.settings import ConfigurationError, NotifierSettings


def test_the_development_secret_is_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROPFEE_ENVIRONMENT", "production")
    with pytest.raises(ConfigurationError, match="NOTIFIER_PAY_LINK_SECRET"):
        NotifierSettings().check_production()
    monkeypatch.setenv("NOTIFIER_PAY_LINK_SECRET", "short")
    with pytest.raises(ConfigurationError, match="16 bytes"):
        NotifierSettings().check_production()
    secret = tmp_path / "secret"
    secret.write_text("a-real-secret-of-enough-bytes\n")
    monkeypatch.setenv("NOTIFIER_PAY_LINK_SECRET_FILE", str(secret))
    settings = NotifierSettings()
    settings.check_production()
    assert settings.pay_link_key() == b"a-real-secret-of-enough-bytes"
    monkeypatch.setenv("PROPFEE_ENVIRONMENT", "development")
    monkeypatch.delenv("NOTIFIER_PAY_LINK_SECRET_FILE")
    NotifierSettings().check_production()


def _household(deadline: date | None) -> pay_links.Household:
    return pay_links.Household(
        "co-1", "c-1", "u-1", "p-1", "case-1|reminder|legal_demand", deadline,
        ZoneInfo("Asia/Shanghai"),
    )  # fmt: skip


def test_a_link_lives_sixty_days_and_a_demand_s_until_thirty_days_after_its_deadline() -> None:
    s = NotifierSettings()
    at = datetime(2026, 3, 1, 2, tzinfo=UTC)
    assert pay_links.expires_at(at, _household(None), s) == at + timedelta(days=60)
    assert pay_links.expires_at(at, _household(date(2026, 3, 15)), s) == at + timedelta(days=60)
    late = pay_links.expires_at(at, _household(date(2026, 4, 20)), s)
    assert late == datetime(2026, 5, 21, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_links_as_channels_print_them() -> None:
    s = NotifierSettings(pay_link_base_url="https://pf.cn/p/")
    assert pay_links.printed("aB3xK9q2Z", "sms", s) == "pf.cn/p/aB3xK9q2Z"
    assert pay_links.printed("aB3xK9q2Z", "wechat", s) == "https://pf.cn/p/aB3xK9q2Z"
