"""Wording rules for templates: what a lawful, non-harassing message may not say (issue 18
rule 11). The one home of the rule: every template save and approval, and the built-in
templates, are checked here, whatever the channel (sms, wechat, app_push, email, letter,
door_notice).

Refused, in every channel and message type:

- **coercion through supplies or access** (Civil Code art. 944 §3): cutting or limiting water,
  power, gas, heating or the internet; stopping the lift, door cards, access, parking or
  entry; locking a door; refusing services (车辆进出, 装修手续) until the fee is paid;
- **public shaming** (PIPL; Civil Code art. 1024): posting names, rooms or arrears lists
  (公示欠费名单, 曝光, 张贴姓名/房号), naming in group chats (群里点名, 业主群公布), renaming a
  group after a debtor, blacklists;
- **threats** (Civil Code art. 1033: no harassment): 后果自负, 上门讨债, 采取强制措施, 列入
  黑名单 or 征信, harm to children's schooling, jobs or credit, contacting employers or
  relatives, jail;
- **insults** (老赖, 不要脸, 没素质 …);
- **marketing**, inside a reminder or a demand only.

What stays lawful: 依法催告, 可能依法提起诉讼/申请仲裁, 申请法院强制执行 (after a
judgment), 违约金按合同约定计收, 收费标准公示 (prices must be published), 如有异议请联系…,
installment and deferral offers, and fee names such as 停车费, 水电费, 电梯运行费, 生活垃圾处理费.

Matching runs on a normalised text (:func:`normalise`), so the usual evasions do not pass:
full-width letters and digits (NFKC), spaces, punctuation, symbols, emoji or zero-width
characters between the characters (断 水, 断-水, 断\u200b水), traditional characters for the
terms (斷水, 停電). The rules are a maintained list of phrases (:data:`PHRASES`) plus patterns
(:data:`PATTERNS`) that catch the variants (停止供水, 门禁卡将失效, 业主群里公布您的房号).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

COERCION = "coercion through supplies or access"
SHAMING = "public shaming"
THREAT = "threat"
INSULT = "insult"
MARKETING = "marketing inside a reminder"

#: Traditional → simplified for the characters of the terms below (the usual evasion).
_TRADITIONAL = str.maketrans(
    "斷電氣熱門鎖閉關閘車輛區進網寬帶應暫後負責擔採強處單張貼費號戶業點羣佈報曬討債賴"
    "騙臉質窮學職徵記錄審軍鐵機貸親屬鄰領導嚴別無恥敗類滾許準讓絕辦過裝開檔將會執動訴"
    "訟獄稱暱凍結銷層樓廣獎優價時對線紅擋餘罰統禍醜賬懲員傳發勸脅嚇誤專從這讀說話隊內"
    "碼籤",
    "断电气热门锁闭关闸车辆区进网宽带应暂后负责担采强处单张贴费号户业点群布报晒讨债赖"
    "骗脸质穷学职征记录审军铁机贷亲属邻领导严别无耻败类滚许准让绝办过装开档将会执动诉"
    "讼狱称昵冻结销层楼广奖优价时对线红挡余罚统祸丑账惩员传发劝胁吓误专从这读说话队内"
    "码签",
)
#: Character classes dropped before matching: spaces, punctuation, symbols (emoji, ★, ～),
#: control and format characters (zero-width spaces and joiners).
_DROPPED = ("Z", "P", "S", "C")


def normalise(text: str) -> str:
    """The text the rules match: NFKC (full-width → half-width), simplified characters for
    traditional ones, lower case, and no separators, punctuation, symbols or zero-width
    characters (so 断 水, 断-水, 斷水 and ｄｉｓｃｏｎｎｅｃｔ read as the words they spell)."""
    folded = unicodedata.normalize("NFKC", text).translate(_TRADITIONAL).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in _DROPPED)


#: The maintained list: phrases refused wherever they appear (normalised form), with the rule.
PHRASES: dict[str, str] = {
    **dict.fromkeys(
        (
            "停水", "断水", "停电", "断电", "停气", "断气", "停暖", "断暖", "停网", "断网",
            "限水", "限电", "拉闸", "停梯", "锁梯", "停用电梯", "关闭电梯", "电梯停运",
            "停用门禁", "关闭门禁", "门禁限制", "限制门禁", "锁门", "换锁", "封门", "堵门",
            "贴封条", "禁止入内", "禁止进入小区", "禁止停车", "不予放行", "不让进门",
        ),
        COERCION,
    ),
    **dict.fromkeys(
        (
            "公示欠费", "欠费公示", "欠费名单", "欠费户名单", "欠费榜", "张榜", "曝光",
            "点名", "通报批评", "黑名单", "挂出来", "晒出来",
        ),
        SHAMING,
    ),
    **dict.fromkeys(
        (
            "后果自负", "后果自行承担", "一切后果", "后果严重", "不客气", "走着瞧", "讨债",
            "追债", "上门催讨", "强制措施", "强制手段", "非常手段", "特殊手段", "一切手段",
            "催收公司", "讨债公司", "坐牢", "拘留", "判刑", "刑事责任", "失信",
        ),
        THREAT,
    ),
    **dict.fromkeys(
        (
            "老赖", "赖账", "无赖", "骗子", "不要脸", "没素质", "素质低", "没良心", "厚颜无耻",
            "可耻", "丢人", "穷鬼", "混蛋", "人渣", "败类", "白吃白住", "白住", "垃圾业主",
            "滚出", "去死",
        ),
        INSULT,
    ),
    # English (templates in other locales).
    **dict.fromkeys(("blacklist", "nameandshame", "atyourownrisk"), SHAMING),
}  # fmt: skip
#: Marketing: refused inside a reminder or a demand only.
MARKETING_PHRASES = ("促销", "抽奖", "优惠券", "限时特价", "广告", "秒杀", "团购")
MARKETING_TYPES = frozenset({"reminder", "demand"})

#: Not after a negation: 不会公开, 不张贴, 不断 are reassurances, not threats.
_NOT = r"(?<!不)(?<!不会)(?<!不再)(?<!并不)(?<!绝不)(?<!不得)(?<!不公开)"
#: Between a verb and its object: 停掉你家的水, 停止对您家的供水.
_WHOSE = r"(?:止|掉|了)?(?:对)?(?:您|你|贵户|其|您家|你家)?(?:的)?(?:供应|提供|供|用)?"
_SUPPLY = r"(?:水|电|气|暖|热水|燃气|天然气|网|宽带)"
_ACCESS = (
    r"(?:电梯|乘梯|梯控|门禁|门卡|电梯卡|出入|进出|通行|车位|停车|道闸|车辆|车牌|入户门|房门|大门"
    r"|小区|家门)"
)
#: Patterns for the variants the list cannot enumerate (on the normalised text).
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), rule)
    for p, rule in (
        # Cutting supplies: 停止供水, 暂停供暖, 切断电源, 断了您家的电, 限制用电.
        (rf"{_NOT}(?:停|断|切断|掐断|中断|关停|截断|暂停|停用){_WHOSE}{_SUPPLY}", COERCION),
        (
            rf"{_NOT}(?<!有)(?<!无)(?<!期)限制?(?:您|你|贵户|其)?(?:的)?(?:用|供)?(?:水|电|气|暖)",
            COERCION,
        ),
        # Stopping lifts, door cards, access, parking, entry: 停用您的门禁卡, 限制车辆进出.
        (
            rf"{_NOT}(?:锁|停用|禁用|关闭|冻结|注销|限制|暂停|屏蔽|停止|停运|拒绝)"
            rf"(?:您的?|你的?|贵户的?|其)?.{{0,3}}?{_ACCESS}",
            COERCION,
        ),
        (
            r"(?:电梯|门禁|门卡|电梯卡|梯控|车牌|车辆|车位)(?:卡)?(?:将|会|即将|会被|将被|被)?"
            r"(?:失效|停用|禁用|冻结|注销|限制|停运|无法使用|不能使用|无法进出|不能进出)",
            COERCION,
        ),
        (
            r"(?:禁止|不得|不准|不让|不许|拒绝)(?:您|你|贵户|其)?.{0,5}?"
            r"(?:进入|进出|出入|入内|通行|入场|停车|乘梯|乘坐电梯|使用电梯|回家|入住)",
            COERCION,
        ),
        (
            r"不予(?:办理|提供|放行|受理)?.{0,6}?(?:车辆|停车|门禁|出入|进出|装修|入住|通行|过户|维修)",
            COERCION,
        ),
        # Public posting and group chats.
        (rf"{_NOT}(?:公示|公布|公开|通报|张贴|曝光|播放|滚动)(?:您的?|你的?|贵户的?|其)?.{{0,6}}?"
         r"(?:欠费|欠缴|拖欠|名单|姓名|名字|房号|门牌|户名|业主名)", SHAMING),
        (r"(?:欠费|欠缴|拖欠).{0,4}?(?:名单|榜|公示|公布|张贴|通报)", SHAMING),
        (rf"(?:姓名|名字|房号|门牌|户名|欠费信息|欠费情况|欠费金额).{{0,6}}?{_NOT}"
         r"(?:公示|公布|公开|通报|张贴|曝光|挂出|晒出)", SHAMING),
        (r"(?:群里|群内|群中|业主群|微信群|群聊|朋友圈).{0,8}?"
         r"(?:点名|公布|通报|曝光|艾特|公示|张贴|提醒|发布|催缴|催收)", SHAMING),
        (r"(?:群名|群昵称|群公告).{0,6}?(?:欠费|欠缴|房号|老赖|改为|修改)", SHAMING),
        # Threats.
        (r"否则.{0,8}?(?:后果|不客气|别怪|走着瞧|采取措施|强制|上门|停|断|锁|封)", THREAT),
        (r"(?:列入|纳入|记入|上报|报送|录入|计入)(?:个人)?.{0,4}?"
         r"(?:黑名单|征信|失信|信用记录|不良记录|信用档案)", THREAT),
        (rf"{_NOT}(?:影响|限制|耽误|连累|波及|牵连).{{0,8}}?"
         r"(?:入学|上学|升学|就业|工作单位|政审|考公|参军|征信|出行|高铁|飞机|贷款|子女|孩子|家人)",
         THREAT),
        (r"(?:我们|我司|本公司|物业|将|会|即将)(?:通知|联系|告知|找到?|上门找)(?:您的?|你的?|其)?"
         r"(?:工作)?(?:单位|领导|亲友|家人|亲属|邻居|同事|子女|老板)", THREAT),
        (r"上门.{0,2}?(?:讨|追|堵|闹)", THREAT),
        # English: cut off / disconnect supplies or access, post names.
        (r"(?:cut|shut|switch|turn)off(?:your|the)?"
         r"(?:water|power|electricity|gas|heating|lift|elevator|access|doorcard)", COERCION),
        (r"(?:disconnect|suspend|restrict|block|disable|deny)(?:your|the)?"
         r"(?:water|power|electricity|gas|heating|lift|elevator|access|doorcard|parking|entry)",
         COERCION),
        (r"(?:post|publish|display|expose)(?:your|the)?(?:name|unit|room|flat|debt|arrears)",
         SHAMING),
    )
)  # fmt: skip
#: The maintained list as patterns (after no negation).
_PHRASE_PATTERNS = tuple((re.compile(_NOT + re.escape(p)), rule) for p, rule in PHRASES.items())


@dataclass(frozen=True, slots=True)
class Finding:
    """A refused phrase as it reads in the text checked (normalised), and its rule."""

    phrase: str
    rule: str

    def __str__(self) -> str:
        return f"'{self.phrase}': {self.rule}"


def findings(text: str, message_type: str) -> list[Finding]:
    """Every refused phrase in ``text`` for ``message_type`` (empty: lawful wording).
    Matches of one rule that overlap are reported as one phrase (否则后果自负, not 否则后果
    and 后果自负)."""
    plain = normalise(text)
    rules = [*_PHRASE_PATTERNS, *PATTERNS]
    if message_type in MARKETING_TYPES:
        rules += [(re.compile(re.escape(p)), MARKETING) for p in MARKETING_PHRASES]
    spans = sorted(
        (m.start(), m.end(), rule) for pattern, rule in rules for m in pattern.finditer(plain)
    )
    merged: list[list[int | str]] = []
    for start, end, rule in spans:
        same = next((s for s in merged if s[2] == rule and start < int(s[1])), None)
        if same is not None:
            same[1] = max(int(same[1]), end)
        else:
            merged.append([start, end, rule])
    found = dict.fromkeys(Finding(plain[int(s) : int(e)], str(r)) for s, e, r in merged)
    return list(found)


def forbidden_wording(text: str, message_type: str) -> list[str]:
    """The refused phrases in ``text`` with their rule, as staff read them."""
    return [str(f) for f in findings(text, message_type)]
