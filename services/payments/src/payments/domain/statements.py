"""Gateway statement files (对账单) read into plain rows.

- WeChat Pay trade bill (交易账单, type ALL), CSV: a header line, data lines whose every field
  starts with a backtick, then a summary header (``总交易单数,...``) and its line.
  Columns used: 微信订单号, 商户订单号, 交易状态 (SUCCESS / REFUND), 应结订单金额,
  微信退款单号, 商户退款单号, 退款金额, 手续费.
- Alipay business detail (业务明细), CSV: ``#`` comment lines around a header line and data.
  Columns used: 支付宝交易号, 商户订单号, 业务类型 (交易 / 退款), 订单金额（元）,
  退款批次号/请求号, 服务费（元）. Refund lines carry negative amounts; 服务费 is written from
  the merchant's side (a fee charged is negative, a fee returned with a refund positive), so its
  sign is turned to match WeChat Pay's 手续费 (the gateway's fee: positive when charged).
Amounts are yuan and are read exactly into fen.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from propfee.money import yuan_to_fen


@dataclass(frozen=True, slots=True)
class StatementRow:
    kind: str  # payment | refund
    reference: str  # gateway transaction id (payment) or our out_refund_no (refund)
    out_trade_no: str
    amount_fen: int  # positive for both kinds
    fee_fen: int  # the gateway's fee (negative when a refund returns it)


def _clean(value: str) -> str:
    return value.strip().lstrip("`").strip()


def parse_wechat_bill(text: str) -> list[StatementRow]:
    lines = [ln for ln in text.lstrip("\ufeff").splitlines() if ln.strip()]
    end = next((i for i, ln in enumerate(lines) if ln.startswith("总交易单数")), len(lines))
    rows = []
    for row in csv.DictReader(io.StringIO("\n".join(lines[:end]))):
        r = {k.strip(): _clean(v or "") for k, v in row.items()}
        fee = yuan_to_fen(r.get("手续费") or "0")
        if r["交易状态"] == "REFUND":
            rows.append(
                StatementRow(
                    "refund", r["商户退款单号"], r["商户订单号"], yuan_to_fen(r["退款金额"]), fee
                )
            )
        elif r["交易状态"] == "SUCCESS":
            rows.append(
                StatementRow(
                    "payment", r["微信订单号"], r["商户订单号"], yuan_to_fen(r["应结订单金额"]), fee
                )
            )
    return rows


def parse_alipay_bill(text: str) -> list[StatementRow]:
    lines = [
        ln for ln in text.lstrip("\ufeff").splitlines() if ln.strip() and not ln.startswith("#")
    ]
    rows = []
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        r = {k.strip(): (v or "").strip() for k, v in row.items()}
        amount = yuan_to_fen(r["订单金额（元）"])
        fee = -yuan_to_fen(r.get("服务费（元）") or "0")
        if r["业务类型"] == "退款":
            rows.append(
                StatementRow("refund", r["退款批次号/请求号"], r["商户订单号"], -amount, fee)
            )
        elif r["业务类型"] == "交易":
            rows.append(StatementRow("payment", r["支付宝交易号"], r["商户订单号"], amount, fee))
    return rows
