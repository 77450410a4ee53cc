"""The evidence bundle as a document for a lawyer and a judge (证据材料), pure: a cover (案件摘要:
creditor, debtor and the basis of liability, the unit, the contract and fee schedules, the
claim per period with its late fee, totals in figures and in capitals, the limitation state
per period), then the evidence list (证据目录), each item with what it proves (证明目的) and its
table. Local times (the policy's zone), amounts in yuan, booleans as 是/否, no internal ids
(periods, rooms, letter and tracking numbers instead). Facts dunning does not hold are written
"（待补充：…）", never invented.

``evidence_files`` prints this as a PDF and as the ZIP's numbered attachments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from propfee.claims import (
    TO_COMPLETE,
    day,
    late_fee_terms,
    percent,
    period_of,
    yuan,
)
from propfee.money import yuan_in_words

DEBTOR_TO_COMPLETE = "（待补充：姓名或名称、身份证号码或统一社会信用代码、联系地址）"
BASIS_TO_COMPLETE = "（待补充：业主、承租人或开发建设单位，及不动产权属证明或租赁合同）"
#: Billing publishes no identity number: always to be completed by the lawyer.
ID_TO_COMPLETE = "（待补充：身份证号码或统一社会信用代码）"
#: A party's kind (PartyContactsUpdated.kind) as the cover names it, and the basis of its
#: liability for the property fee.
PARTY_KINDS = {"owner": "业主", "tenant": "承租人", "developer": "建设单位", "company": "单位"}
LIABILITY = {
    "owner": "业主（房屋所有权人，《民法典》第九百四十四条）",
    "tenant": "承租人（约定由承租人缴纳物业费）",
    "developer": "建设单位（房屋交付业主前）",
    "company": "单位",
}
#: Characters a file name in the ZIP must not carry (a '/' would make a folder).
UNSAFE_IN_NAMES = str.maketrans({c: "-" for c in '/\\:*?"<>|'})

STAGES = {
    "notice_before_due": "到期前缴费提醒",
    "reminder": "催缴提醒",
    "final_reminder": "最后催缴提醒",
    "phone_call": "电话催缴",
    "wechat_app": "微信/APP催缴",
    "sealed_door_notice": "密封催缴通知（上门投递）",
    "home_visit": "上门走访",
    "friendly_letter": "友情提示函",
    "formal_letter": "催缴函",
    "final_letter": "最后催缴函",
    "legal_demand": "催告函（附履行期限）",
    "lawyer_letter": "律师函",
    "mediation": "调解",
    "lawsuit": "诉讼",
    "enforcement": "强制执行",
    "monthly_reminder": "每月缴费提醒",
}
CHANNELS = {
    "sms": "短信",
    "wechat": "微信",
    "app_push": "APP推送",
    "email": "电子邮件",
    "letter": "邮寄信函",
    "door_notice": "密封通知（上门投递）",
    "phone_call": "电话",
    "call": "电话",
    "visit": "上门走访",
    "letter_delivery": "函件送达",
    "lawyer_letter": "律师函",
    "mediation": "调解",
    "lawsuit": "诉讼",
    "enforcement": "强制执行",
}
OUTCOMES = {"delivered": "已送达", "failed": "未送达", "posted": "已寄出（尚未确认送达）"}
INVOICE_STATUS = {
    "issued": "未缴",
    "partially_paid": "部分缴纳",
    "paid": "已缴清",
    "void": "已作废",
    "written_off": "已核销",
}
REASONS = {
    "forgot": "忘记缴费",
    "hardship": "经济困难",
    "unhappy_with_service": "对物业服务不满",
    "property_quality": "房屋质量问题",
    "landlord_tenant_dispute": "业主与承租人纠纷",
    "refuses": "拒绝缴费",
    "unreachable": "无法联系",
    "paid_elsewhere": "称已通过其他途径缴费",
    "other": "其他",
}
PAUSE_REASONS = {
    "service_complaint": "服务投诉",
    "hardship_plan": "困难缓缴",
    "installment_plan": "分期还款",
    "legal_proceeding": "诉讼程序进行中",
    "property_quality": "房屋质量问题",
    "landlord_tenant_dispute": "业主与承租人纠纷",
    "other": "其他",
}
PROMISE_STATUS = {"open": "待履行", "kept": "已履行", "broken": "未履行"}
PLAN_STATUS = {"active": "履行中", "missed": "未按期履行", "done": "已履行完毕"}
RESTART_KINDS = {
    "delivered_demand": "催告送达",
    "acknowledgement": "债务人书面确认",
    "part_payment": "部分缴费",
    "payment_plan": "签订分期协议",
}
CLOCK_STATES = {"running": "进行中", "alert": "即将届满（不足6个月）", "expired": "已届满"}
#: Delivery proof as notifier and staff record it: what each key means.
PROOF_KEYS = {
    "tracking_no": "邮寄单号",
    "tracking_number": "邮寄单号",
    "carrier": "承运方",
    "carrier_status": "承运状态",
    "receipt_reference": "签收回执",
    "receipt_status": "回执状态",
    "receipt_at": "回执时间",
    "signed_by": "签收人",
    "reason": "失败原因",
    "message_id": "邮件编号",
    "smtp_response": "邮件服务器应答",
    "biz_id": "短信回执编号",
    "serial_no": "短信回执编号",
    "request_id": "请求编号",
    "recorded_by": "登记人（工号）",
}
#: Proof keys a letter's own row already shows.
LETTER_KEYS = {"carrier", "tracking_no", "tracking_number", "recorded_by", "signed_by"}
LEGAL_PURPOSE = (
    "证明债权人已向债务人个别送达书面催告并给予合理履行期限（《民法典》第九百四十四条），"
    "诉讼时效自送达之日起中断（《民法典》第一百九十五条）。"
)


@dataclass(frozen=True)
class Item:
    """One entry of the evidence list: its table is the PDF's section and the ZIP's file."""

    title: str
    purpose: str
    label: str  # a fixed name for the ZIP attachment (never user text)
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: str
    cover: list[tuple[str, str]]
    claim_header: list[str]
    claim_rows: list[list[str]]
    totals: list[tuple[str, str]]
    limitation_header: list[str]
    limitation_rows: list[list[str]]
    items: list[Item] = field(default_factory=list)

    def attachment(self, number: int) -> str:
        """The ZIP's name of item ``number`` (1-based), as the evidence list cites it."""
        label = self.items[number - 1].label.translate(UNSAFE_IN_NAMES)
        return f"证据{number}-{label}.csv"


class Words:
    """Local times, yuan and booleans as people write them."""

    def __init__(self, time_zone: str) -> None:
        self.zone = ZoneInfo(time_zone)

    def when(self, value: Any) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return str(value)
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(self.zone)
            return f"{value.year}年{value.month}月{value.day}日 {value:%H:%M}"
        if isinstance(value, date):
            return f"{value.year}年{value.month}月{value.day}日"
        return str(value)

    def local_date(self, value: datetime) -> date:
        return value.astimezone(self.zone).date() if value.tzinfo else value.date()


def yes_no(value: Any) -> str:
    return "是" if value else "否"


def named(table: Mapping[str, str], code: Any) -> str:
    return "" if code is None else table.get(str(code), str(code))


def _owed(invoice: Mapping[str, Any]) -> tuple[int, int]:
    """(principal, late fee) still owed on an open invoice; an imported late fee is late fee."""
    if invoice.get("settled") or invoice.get("status") in ("paid", "void", "written_off"):
        return 0, 0
    principal = invoice.get("principal_outstanding_fen")
    if principal is None:  # no balance change seen yet: the whole invoice is owed
        principal = invoice.get("total_fen") or 0
    late_fee = invoice.get("late_fee_outstanding_fen") or 0
    if invoice.get("kind") == "opening_late_fee":
        return 0, principal + late_fee
    return principal, late_fee


def compose(bundle: Mapping[str, Any]) -> Document:
    case, creditor = bundle["case"], bundle.get("creditor") or {}
    words = Words(creditor.get("time_zone") or "Asia/Shanghai")
    as_of: datetime = bundle["as_of"]
    invoices = list(bundle.get("invoices") or [])
    periods = {i["invoice_id"]: period_of(i) for i in invoices}
    room = case.get("room_label") or TO_COMPLETE

    claim_rows, principal_total, late_fee_total, bases = [], 0, 0, []
    limitation_rows = []
    restarts = bundle.get("limitation_restarts") or []
    for invoice in invoices:
        principal, late_fee = _owed(invoice)
        if principal == 0 and late_fee == 0:
            continue
        principal_total, late_fee_total = principal_total + principal, late_fee_total + late_fee
        basis = invoice.get("late_fee_basis")
        if basis:
            bases.append(basis)
        claim_rows.append(
            [
                periods[invoice["invoice_id"]],
                day(invoice.get("due_date")),
                yuan(principal),
                yuan(late_fee),
                late_fee_terms(basis, late_fee, invoice.get("late_fee_as_of")),
                yuan(principal + late_fee),
            ]
        )
        limitation_rows.append(_limitation_row(invoice, periods, restarts, words, as_of))
    total = principal_total + late_fee_total
    totals = [
        ("欠缴物业服务费本金合计", f"{yuan(principal_total)}（{yuan_in_words(principal_total)}）"),
        ("滞纳金（违约金）合计", f"{yuan(late_fee_total)}（{yuan_in_words(late_fee_total)}）"),
        ("诉请金额合计", f"{yuan(total)}（{yuan_in_words(total)}）"),
    ]
    cover = _cover(case, creditor, invoices, bases, words, as_of, room, totals[-1][1])
    debtor, basis = debtor_and_basis(bundle.get("debtor"), bundle.get("jointly_liable") or [])
    party = {"债务人": debtor, "责任依据": basis}
    cover = [(label, party.get(label, text)) for label, text in cover]
    return Document(
        title="物业服务费纠纷证据材料",
        subtitle=f"房号：{room}　　材料生成时间：{words.when(as_of)}",
        cover=cover,
        claim_header=["期间", "缴费期限", "尚欠本金", "滞纳金", "滞纳金计算", "小计"],
        claim_rows=claim_rows,
        totals=totals,
        limitation_header=["期间", "缴费期限", "最近一次中断", "时效届满日", "时效状态"],
        limitation_rows=limitation_rows,
        items=_items(bundle, invoices, periods, words),
    )


def _cover(
    case: Mapping[str, Any],
    creditor: Mapping[str, Any],
    invoices: list[Mapping[str, Any]],
    bases: list[Mapping[str, Any]],
    words: Words,
    as_of: datetime,
    room: str,
    total: str,
) -> list[tuple[str, str]]:
    community = creditor.get("community_name") or TO_COMPLETE
    address = f"（{creditor['address']}）" if creditor.get("address") else ""
    contract = "（待补充：物业服务合同名称及签订日期）"
    if creditor.get("contract_end"):
        contract += f"；合同期限至{day(creditor['contract_end'])}"
    schedules = sorted({str(i["schedule_version"]) for i in invoices if i.get("schedule_version")})
    terms = sorted(
        {(str(b.get("daily_rate")), str(b.get("annual_cap"))) for b in bases if b.get("daily_rate")}
    )
    late_fee = "；".join(f"日费率{percent(r)}，年上限{percent(c)}" for r, c in terms)
    return [
        (
            "债权人（物业服务人）",
            creditor.get("company_name") or "（待补充：物业服务企业名称）",
        ),
        ("物业项目", f"{community}{address}"),
        ("债务人", DEBTOR_TO_COMPLETE),
        ("责任依据", BASIS_TO_COMPLETE),
        ("房号", room),
        ("物业服务合同", contract),
        ("收费标准版本", "、".join(schedules) if schedules else "（待补充：收费标准及公示材料）"),
        ("滞纳金约定", late_fee or ("（待补充：合同约定的滞纳金条款）" if bases else "见诉请明细")),
        ("诉请金额", total),
        ("当前催缴阶段", named(STAGES, case.get("stage")) or "未进入催缴阶段"),
        ("案件状态", "进行中" if case.get("status") == "open" else "已结案"),
        ("诉讼时效计算日", words.when(words.local_date(as_of))),
    ]


def debtor_and_basis(
    debtor: Mapping[str, Any] | None, jointly_liable: list[Mapping[str, Any]]
) -> tuple[str, str]:
    """The cover's debtor (name, kind, ID number to complete, postal address) and the basis of
    their liability from their kind; the others billing names on the invoices (the owner when
    a tenant pays) are named jointly liable. Unknown party: both to be completed."""
    if not debtor:
        return DEBTOR_TO_COMPLETE, BASIS_TO_COMPLETE
    name = debtor.get("name") or "（待补充：姓名或名称）"
    kind = f"（{PARTY_KINDS[debtor['kind']]}）" if debtor.get("kind") in PARTY_KINDS else ""
    address = debtor.get("postal_address") or "（待补充：联系地址）"
    named_debtor = f"{name}{kind}，{ID_TO_COMPLETE}，联系地址：{address}"
    basis = LIABILITY.get(str(debtor.get("kind")), BASIS_TO_COMPLETE)
    joint = [
        f"{PARTY_KINDS.get(str(p.get('kind')), '业主')}{p.get('name') or '（待补充：姓名或名称）'}"
        f"（联系地址：{p.get('postal_address') or '（待补充）'}）"
        for p in jointly_liable
    ]
    if joint:
        basis += f"；{'、'.join(joint)}对欠缴物业服务费承担连带责任（账单载明的连带责任人）"
    return named_debtor, basis


def _limitation_row(
    invoice: Mapping[str, Any],
    periods: Mapping[str, str],
    restarts: Iterable[Mapping[str, Any]],
    words: Words,
    as_of: datetime,
) -> list[str]:
    expires, last = invoice.get("limitation_expires_on"), invoice.get("limitation_last_restart_on")
    restart = "无（自缴费期限届满起算）"
    if last is not None:
        kinds = [
            named(RESTART_KINDS, r["kind"])
            for r in restarts
            if r["invoice_id"] == invoice["invoice_id"] and str(r["on_date"]) == str(last)
        ]
        restart = f"{day(last)}（{'、'.join(kinds) or '中断'}）"
    state = TO_COMPLETE
    if expires is not None and invoice.get("limitation_state"):
        state = CLOCK_STATES[invoice["limitation_state"]]
        if state == CLOCK_STATES["expired"]:
            state += "（仅可由债务人自愿履行）"
    return [
        periods[invoice["invoice_id"]],
        day(invoice.get("due_date")),
        restart,
        day(expires) if expires is not None else TO_COMPLETE,
        state,
    ]


def _items(
    bundle: Mapping[str, Any],
    invoices: list[Mapping[str, Any]],
    periods: Mapping[str, str],
    words: Words,
) -> list[Item]:
    items = [
        Item(
            title=f"物业服务费账单（{len(invoices)}期）",
            purpose="证明债权人按收费标准向债务人开具各期物业服务费账单，各期应缴金额、"
            "缴费期限及至今尚欠金额。",
            label="物业服务费账单",
            header=[
                "期间",
                "缴费期限",
                "账单金额",
                "收费标准版本",
                "缴费状态",
                "尚欠本金",
                "尚欠滞纳金",
            ],
            rows=[
                [
                    periods[i["invoice_id"]],
                    day(i.get("due_date")),
                    yuan(i.get("total_fen")),
                    str(i.get("schedule_version") or TO_COMPLETE),
                    named(INVOICE_STATUS, i.get("status") or "issued"),
                    yuan(_owed(i)[0]),
                    yuan(_owed(i)[1]),
                ]
                for i in invoices
            ],
        )
    ]
    items += _demands(bundle, periods, words)
    items += _promises_and_plans(bundle, periods, words)
    payments = bundle.get("payments") or []
    if payments:
        items.append(
            Item(
                title=f"缴费记录（{len(payments)}笔）",
                purpose="证明债务人的缴费情况：已缴金额已从诉请金额中扣除；部分缴费构成对债务的"
                "承认，诉讼时效中断。",
                label="缴费记录",
                header=["缴费时间", "缴费金额"],
                rows=[[words.when(p.get("paid_at")), yuan(p.get("amount_fen"))] for p in payments],
            )
        )
    pauses = bundle.get("pauses") or []
    if pauses:
        items.append(
            Item(
                title=f"投诉、异议及暂停催缴记录（{len(pauses)}条）",
                purpose="证明债务人提出的投诉、异议已受理并处理及其处理结果，处理期间债权人暂停"
                "催缴。",
                label="投诉异议及暂停催缴记录",
                header=["事由", "范围", "暂停期间", "处理结果", "处理时间", "说明"],
                rows=[_pause_row(p, periods, words) for p in pauses],
            )
        )
    log = _contact_log(bundle, words)
    if log:
        items.append(
            Item(
                title=f"催缴联系记录（{len(log)}条）",
                purpose="证明债权人通过电话、上门走访等方式催缴的经过，以及债务人陈述的欠费原因。",
                label="催缴联系记录",
                header=["时间", "方式", "欠费原因", "记录内容", "经办人（工号）", "登记时间"],
                rows=[row for _, row in sorted(log, key=lambda x: x[0])],
            )
        )
    return items


def _pause_row(pause: Mapping[str, Any], periods: Mapping[str, str], words: Words) -> list[str]:
    scope = "全部欠费"
    if pause.get("scope") == "invoice":
        scope = f"{periods.get(pause.get('invoice_id') or '', '其中一期')}账单"
    resolution = pause.get("resolution") or ("尚未处理完毕" if not pause.get("resolved_at") else "")
    return [
        named(PAUSE_REASONS, pause.get("reason")),
        scope,
        f"{words.when(pause.get('starts_at'))}至{words.when(pause.get('ends_at'))}",
        str(resolution),
        words.when(pause.get("resolved_at")),
        str(pause.get("note") or ""),
    ]


def _proof_text(detail: Mapping[str, Any] | None, words: Words) -> str:
    parts = []
    for key, value in (detail or {}).items():
        if value is None or value == "" or key == "final":
            continue
        text = words.when(value) if key.endswith("_at") else _plain(value)
        parts.append(f"{PROOF_KEYS.get(key, key)}：{text}")
    return "；".join(parts)


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, list | tuple):
        return "、".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return "；".join(f"{k}：{_plain(v)}" for k, v in value.items())
    return str(value)


def _letter_text(
    letter: Mapping[str, Any], words: Words, proof: Mapping[str, Any] | None = None
) -> str:
    text = f"{letter.get('carrier') or '邮寄'}，单号{letter.get('tracking_no') or TO_COMPLETE}"
    text += f"，{words.when(letter.get('sent_at'))}寄出"
    if letter.get("carrier_status"):
        text += f"，承运状态：{letter['carrier_status']}"
    if letter.get("delivered_at"):
        text += f"，{words.when(letter['delivered_at'])}妥投"
        if letter.get("signed_by"):
            text += f"，签收人：{letter['signed_by']}"
    else:
        text += "，尚无妥投或签收记录"
    if letter.get("staff_id"):
        text += f"，经办人（工号）：{letter['staff_id']}"
    for key, label in (("receipt_reference", "签收回执"), ("status", "状态")):
        if letter.get(key):
            text += f"，{label}：{named(OUTCOMES, letter[key])}"
    if proof:  # the letter's delivery as recorded: a receipt, a carrier status, ...
        extra = {k: v for k, v in (proof.get("detail") or {}).items() if k not in LETTER_KEYS}
        if extra:
            text += f"；{_proof_text(extra, words)}"
    return text


def _demands(bundle: Mapping[str, Any], periods: Mapping[str, str], words: Words) -> list[Item]:
    """Every reminder or demand that sent something, each with its delivery proof; letters and
    proof that match no reminder come after, as their own items."""
    letters = list(bundle.get("letters") or [])
    # A letter recorded by staff is also delivery proof (its own id): shown with the letter.
    by_letter = {
        p["notification_id"]: p
        for p in bundle.get("delivery_proof") or []
        if p.get("notification_id") in {x.get("letter_id") for x in letters}
    }
    proofs = [p for p in bundle.get("delivery_proof") or [] if p not in by_letter.values()]
    deadlines = {d["stage"]: d for d in bundle.get("demands") or []}
    items: list[Item] = []
    for reminder in bundle.get("reminders") or []:
        actions = reminder.get("actions") or []
        channels = [a.get("channel") for a in actions if a.get("kind") == "message"]
        if not channels:
            continue
        stage = reminder["stage"]
        mine = [p for p in proofs if p.get("stage") == stage]
        own_letters = [x for x in letters if x.get("stage") == stage]
        proofs = [p for p in proofs if p not in mine]
        letters = [x for x in letters if x not in own_letters]
        deadline = reminder.get("deadline") or (deadlines.get(stage) or {}).get("deadline")
        name = named(STAGES, stage)
        if reminder.get("cycle"):
            name += f"（{reminder['cycle']}）"
        rows = [
            ["发出时间", words.when(reminder.get("escalated_at"))],
            ["催缴方式", "、".join(named(CHANNELS, c) for c in channels)],
            [
                "所涉期间",
                "、".join(periods.get(i, TO_COMPLETE) for i in reminder.get("invoice_ids") or []),
            ],
            ["催缴金额", yuan(reminder.get("outstanding_fen"))],
        ]
        if deadline:
            rows.append(["履行期限", day(deadline)])
        rows += _delivery_rows(mine, own_letters, words, by_letter)
        delivered = any(p.get("outcome") == "delivered" for p in mine) or any(
            x.get("delivered_at") for x in own_letters
        )
        if deadline or stage == "legal_demand":
            purpose = LEGAL_PURPOSE
        elif delivered:
            purpose = "证明债权人向债务人催缴欠费，该通知已个别送达债务人。"
        else:
            purpose = "证明债权人向债务人发出催缴通知（送达情况见本项记录）。"
        items.append(
            Item(
                title=f"{name}及送达凭证（{words.when(reminder.get('escalated_at'))}）",
                purpose=purpose,
                label=f"{name}及送达凭证",
                header=["项目", "内容"],
                rows=rows,
            )
        )
    for letter in letters:
        name = f"{named(STAGES, letter.get('stage'))}邮寄凭证"
        items.append(
            Item(
                title=f"{name}（{words.when(letter.get('sent_at'))}）",
                purpose="证明债权人以邮寄方式向债务人送达催缴函件及其送达情况。",
                label=name,
                header=["项目", "内容"],
                rows=_delivery_rows([], [letter], words, by_letter),
            )
        )
    if proofs:
        items.append(
            Item(
                title=f"其他通知送达记录（{len(proofs)}条）",
                purpose="证明债权人向债务人发出的其他通知及其送达情况。",
                label="其他通知送达记录",
                header=["项目", "内容"],
                rows=_delivery_rows(proofs, [], words),
            )
        )
    return items


def _delivery_rows(
    proofs: list[Mapping[str, Any]],
    letters: list[Mapping[str, Any]],
    words: Words,
    by_letter: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[list[str]]:
    rows = []
    for proof in proofs:
        what = f"{named(CHANNELS, proof.get('channel'))}：{named(OUTCOMES, proof.get('outcome'))}"
        what += f"，{words.when(proof.get('at'))}"
        if proof.get("channel") in ("letter", "door_notice") and proof.get("notification_id"):
            what += f"，函件编号{proof['notification_id']}"
        detail = _proof_text(proof.get("detail"), words)
        rows.append(["送达凭证", f"{what}；{detail}" if detail else what])
    for letter in letters:
        recorded = (by_letter or {}).get(letter.get("letter_id") or "")
        rows.append(["邮寄记录", _letter_text(letter, words, recorded)])
    if not rows:
        rows.append(["送达凭证", "暂无送达回执"])
    return rows


def _promises_and_plans(
    bundle: Mapping[str, Any], periods: Mapping[str, str], words: Words
) -> list[Item]:
    items = []
    for promise in bundle.get("promises") or []:
        signed = bool(promise.get("signed"))
        items.append(
            Item(
                title=f"缴费承诺（{words.when(promise.get('made_at'))}）",
                purpose="证明债务人书面确认所欠物业服务费并承诺按期缴纳，构成对债务的承认，"
                "诉讼时效中断（《民法典》第一百九十五条）。"
                if signed
                else "证明债务人承诺按期缴纳欠费（未签字，仅作催缴经过的记录）。",
                label="缴费承诺",
                header=["项目", "内容"],
                rows=[
                    ["承诺时间", words.when(promise.get("made_at"))],
                    ["承诺金额", yuan(promise.get("amount_fen"))],
                    ["承诺缴费日期", day(promise.get("promised_date"))],
                    ["债务人是否签字", yes_no(signed)],
                    ["履行情况", named(PROMISE_STATUS, promise.get("status"))],
                    ["经办人（工号）", str(promise.get("staff_id") or "")],
                    ["登记时间", words.when(promise.get("recorded_at"))],
                ],
            )
        )
    for plan in bundle.get("plans") or []:
        parts = plan.get("parts") or []
        rows = [
            ["签订时间", words.when(plan.get("created_at"))],
            ["分期总额", yuan(plan.get("total_fen"))],
            [
                "所涉期间",
                "、".join(periods.get(i, TO_COMPLETE) for i in plan.get("invoice_ids") or []),
            ],
            ["履行情况", named(PLAN_STATUS, plan.get("status"))],
        ]
        rows += [
            [
                f"第{p.get('part_no')}期",
                f"{day(p.get('due_date'))}前缴纳{yuan(p.get('amount_fen'))}",
            ]
            for p in parts
        ]
        items.append(
            Item(
                title=f"分期还款协议（{words.when(plan.get('created_at'))}）",
                purpose="证明债务人同意分期清偿欠费，构成对债务的承认，诉讼时效中断"
                "（《民法典》第一百九十五条）。",
                label="分期还款协议",
                header=["项目", "内容"],
                rows=rows,
            )
        )
    return items


def _contact_log(bundle: Mapping[str, Any], words: Words) -> list[tuple[datetime, list[str]]]:
    log: list[tuple[datetime, list[str]]] = []
    for outcome in bundle.get("calls_and_visits") or []:
        row = [
            words.when(outcome.get("at")),
            named(CHANNELS, outcome.get("kind")),
            named(REASONS, outcome.get("reason_code")),
            str(outcome.get("note") or ""),
            str(outcome.get("staff_id") or ""),
            words.when(outcome.get("recorded_at")),
        ]
        log.append((outcome["at"], row))
    for note in bundle.get("notes") or []:
        row = [
            words.when(note.get("at")),
            "备注",
            "",
            str(note.get("body") or ""),
            str(note.get("staff_id") or ""),
            words.when(note.get("recorded_at")),
        ]
        log.append((note["at"], row))
    for reminder in bundle.get("reminders") or []:
        actions = reminder.get("actions") or []
        if any(a.get("kind") == "message" for a in actions) or not actions:
            continue
        tasks = "、".join(named(CHANNELS, a.get("channel")) for a in actions)
        row = [
            words.when(reminder.get("escalated_at")),
            "催缴安排",
            "",
            f"进入“{named(STAGES, reminder.get('stage'))}”阶段：{tasks}",
            str(reminder.get("staff_id") or ""),
            "",
        ]
        log.append((reminder["escalated_at"], row))
    return log
