"""Every channel has a deliberate answer to "the dispatcher died before recording what the
provider said" (service_layer/recovery.py): resend only where the provider deduplicates or
nothing left the building, ask where the provider can be asked, else staff review."""

from __future__ import annotations

import pytest

from notifier.adapters.registry import Channels
from notifier.service_layer.recovery import recovery_of
from notifier.settings import NotifierSettings


@pytest.mark.parametrize(
    ("sms_provider", "wechat_api", "expected"),
    [
        (
            "alibaba",
            "template",
            {
                "sms": "lookup",
                "wechat": "review",
                "app_push": "resend",
                "email": "review",
                "letter": "resend",
                "door_notice": "resend",
            },
        ),
        ("tencent", "subscribe", {"sms": "review", "wechat": "review"}),
    ],
)
async def test_each_channel_recovers_as_its_provider_allows(
    sms_provider: str, wechat_api: str, expected: dict[str, str]
) -> None:
    settings = NotifierSettings(sms_provider=sms_provider, wechat_message_api=wechat_api)
    channels = Channels.from_settings(settings)
    try:
        got = {name: recovery_of(route.adapter) for name, route in channels.routes.items()}
    finally:
        await channels.close()
    assert {k: got[k] for k in expected} == expected
