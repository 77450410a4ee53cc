"""Issue 18 rule 11: coercive, shaming and threatening wording is refused, lawful reminders
pass; against the production check (``notifier.domain.wording``, which every template save,
approval and built-in template goes through)."""

import pytest

from notifier.domain.wording import COERCION, INSULT, SHAMING, THREAT, findings, normalise

#: Real-world phrasings (and the usual evasions of a word list), each with the rule it breaks.
REFUSED = [
    ("逾期不缴将停水停电", COERCION),
    ("请于3日内缴清，否则后果自负！", THREAT),
    ("欠费不交，后果自负", THREAT),
    ("逾期将停止供水", COERCION),
    ("我司将暂停供暖服务", COERCION),
    ("再不交就停掉你家的水", COERCION),
    ("不交物业费就断网", COERCION),
    ("逾期将拉闸限电", COERCION),
    ("断 水 断 电", COERCION),  # spaces between the characters
    ("断-水", COERCION),  # punctuation between them
    ("断\u200b电", COERCION),  # a zero-width space
    ("停\u3000电", COERCION),  # a full-width space
    ("斷水斷電", COERCION),  # traditional characters
    ("逾期將停電", COERCION),
    ("逾期将停用您的门禁卡", COERCION),
    ("门禁卡将失效，请尽快缴费", COERCION),
    ("欠费户电梯卡将被停用", COERCION),
    ("电梯将停运", COERCION),
    ("将作停梯处理", COERCION),
    ("将限制车辆进出", COERCION),
    ("不予办理车辆出入登记", COERCION),
    ("欠费业主禁止进入小区", COERCION),
    ("拖欠者不得在小区停车", COERCION),
    ("欠费业主禁止使用电梯", COERCION),
    ("物业将锁门处理", COERCION),
    ("将在小区公示欠费名单", SHAMING),
    ("将在业主群里点名", SHAMING),
    ("您的姓名和房号将张贴在公告栏", SHAMING),
    ("欠费情况将在大堂公示", SHAMING),
    ("我们将公布欠费业主房号", SHAMING),
    ("曝光欠费户", SHAMING),
    ("微信群内将@所有欠费户催缴", SHAMING),
    ("群名已改为3-201欠费户", SHAMING),
    ("将您列入黑名单", SHAMING),
    ("逾期将上报征信", THREAT),
    ("将影响您子女入学", THREAT),
    ("欠费会影响您的征信和贷款", THREAT),
    ("我们将通知您的工作单位", THREAT),
    ("我们将派人上门讨债", THREAT),
    ("将采取强制措施", THREAT),
    ("别怪我们不客气", THREAT),
    ("一切后果由您承担", THREAT),
    ("老赖请尽快缴费", INSULT),
    ("白住还不交钱，不要脸", INSULT),
    ("We will cut off your water if you do not pay.", COERCION),
    ("Your name will be posted: we publish your unit number.", SHAMING),
    ("ｂｌａｃｋｌｉｓｔ", SHAMING),  # full-width letters
]

#: Lawful reminders, demands and notices: none of them may be refused.
ACCEPTED = [
    "尊敬的业主，您本期物业费尚未缴纳，请于12月31日前缴纳。如有异议请致电4008123456。安居物业",
    "依法催告：请您于收到本函之日起15日内缴清欠费。",
    "逾期仍未缴纳的，我司可能依法提起诉讼。",
    "逾期未缴的，我们可能依法申请仲裁。",
    "违约金按合同约定计收，自到期次日起按日万分之五计算。",
    "如有异议请联系客服中心4008123456，或拨打投诉电话12345。",
    "如您经济困难，可申请分期缴纳，最长6期。",
    "如有特殊困难，可申请缓交，我们将与您协商。",
    "收费标准已在小区公告栏公示，欢迎查阅。",
    "收费标准已张贴于小区公告栏。",
    "您的房号和欠费信息不会公开。",
    "本月停车费、水电费代收明细见附件。",
    "电梯运行费、生活垃圾处理费已包含在物业费中。",
    "判决生效后，我司可依法申请人民法院强制执行。",
    "本通知密封投递，不会公开您的任何信息。",
    "本函密封投递，不公开张贴。",
    "如已缴纳，请忽略本提醒。感谢您的支持与理解。",
    "您可通过微信、支付宝或到物业服务中心缴纳。",
    "缴费链接：https://pf.cn/p/u-000123",
    "物业服务中心工作时间：8:30-17:30。",
    "本函为依法催告函，请妥善保管。",
    "您的分期缴费计划已确认：共3期，首期1000元。",
    "冬季供暖费请于11月15日前缴纳。",
    "天然气、热水费用由供应商收取，与物业费分开结算。",
    "根据《民法典》第九百四十四条，业主应当按照约定支付物业费。",
    "我们已于12月31日收到您缴纳的1200元，谢谢。",
    "如您已出售或出租该房屋，请告知我们，以便更新联系人。",
    "如需开具发票，请联系前台。",
    "如您对本通知有异议，可在收到后30日内书面提出。",
    "为方便您出入，请及时更新门禁信息。",
    "欢迎关注业主群内的物业公告。",
    "您可申请延期缴纳，我们将依法保护您的个人信息。",
    "停车位租金与物业费分开计收。",
    "请于期限届满前缴纳，逾期将按合同约定计收违约金。",
    "本公司不会因欠费限制您的任何服务。",
    "Dear owner, your property fee of 1,200 yuan is due on 31 December. Anju Property.",
    "If you disagree with this bill, please call our complaint line 12345.",
]


@pytest.mark.parametrize(("text", "rule"), REFUSED)
def test_coercive_shaming_threatening_and_insulting_wording_is_refused(
    text: str, rule: str
) -> None:
    found = findings(text, "reminder")
    assert rule in {f.rule for f in found}, (text, found)
    assert all(f.phrase and f.phrase in normalise(text) for f in found)


@pytest.mark.parametrize("text", ACCEPTED)
def test_lawful_wording_passes(text: str) -> None:
    assert findings(text, "reminder") == []


def test_at_least_thirty_each() -> None:
    assert len(REFUSED) >= 30 and len(ACCEPTED) >= 30


def test_the_finding_names_the_phrase_as_read_after_normalising() -> None:
    assert [str(f) for f in findings("否 则 后 果 自 负", "demand")] == ["'否则后果自负': threat"]
    assert normalise("ＡＢ　斷-水\u200b！") == "ab断水"


def test_marketing_only_inside_reminders_and_demands() -> None:
    assert [f.rule for f in findings("参加抽奖", "reminder")] == ["marketing inside a reminder"]
    assert findings("参加抽奖", "bill") == []
