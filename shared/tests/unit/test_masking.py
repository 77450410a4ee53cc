import json
import logging

import structlog

from propfee.logging import configure_logging, get_logger
from propfee.masking import mask_data, mask_text, mask_value


def test_phone_numbers_are_masked_in_free_text() -> None:
    assert mask_text("call 13812345678 now") == "call 138****5678 now"
    assert mask_text("tel: 138 1234 5678") == "tel: 138****5678"
    assert mask_text("+86 13812345678") == "+86 138****5678"
    assert mask_text("landline 010-62345678") == "landline 010-****56**"


def test_id_numbers_are_masked() -> None:
    assert mask_text("ID 11010519491231002X.") == "ID 110105********002X."
    assert "19491231" not in mask_text("110105194912310021")


def test_amounts_and_ids_survive() -> None:
    text = "invoice inv-42 total 27580 fen due 2026-01-31"
    assert mask_text(text) == text


def test_names_are_masked_by_key() -> None:
    data = {"owner_name": "张三丰", "tenant_phone": "13900001111", "amount_fen": 27580}
    assert mask_data(data) == {
        "owner_name": "张**",
        "tenant_phone": "139****1111",
        "amount_fen": 27580,
    }
    assert mask_value("Li") == "L*"
    assert mask_data({"service_name": "billing"}) == {"service_name": "billing"}


def test_log_lines_never_carry_personal_data(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging("test", level="INFO", json=True)
    log = get_logger("t")
    try:
        raise ValueError("bad row for 13812345678")
    except ValueError:
        log.exception("import failed", owner_name="王小明", row={"phone": "13912345678"})
    logging.getLogger("stdlib").warning("stdlib says 13700001111")
    out = capsys.readouterr().out
    assert "13812345678" not in out and "13912345678" not in out and "13700001111" not in out
    assert "王小明" not in out
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert lines[0]["owner_name"] == "王**"
    assert lines[0]["row"] == {"phone": "139****5678"}
    assert "138****5678" in lines[0]["exception"]
    assert lines[1]["event"] == "stdlib says 137****1111"
    structlog.reset_defaults()


def test_secrets_in_urls_are_masked() -> None:
    line = (
        "HTTP Request: POST http://127.0.0.1:8190/wechat/cgi-bin/message/template/send"
        '?access_token=7Ti6eU8SmbP6kh_uAByE&lang=zh_CN "HTTP/1.1 200 OK"'
    )
    masked = mask_text(line)
    assert "7Ti6eU8SmbP6kh_uAByE" not in masked
    assert "access_token=***&lang=zh_CN" in masked
    assert mask_text("/receipts/alibaba?token=s3cr3t") == "/receipts/alibaba?token=***"


def test_httpx_request_lines_are_not_logged_at_info() -> None:
    import logging

    from propfee.logging import configure_logging

    configure_logging("test", level="INFO")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
