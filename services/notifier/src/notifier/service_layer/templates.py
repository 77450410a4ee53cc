"""Jinja2 templates per message type, stage, channel and locale: lookup, rendering and the
checks run when staff save one (syntax, known variables, required content, sender identity
and dispute contact, SMS length, forbidden wording, rendering limits).

Built-in templates ship in ``notifier/templates``: the deployment's defaults. Saved ones
belong to a company and are versioned in the ``templates`` table; a saved version is a draft
until a second company-level person approves it, and a company's highest *approved* version
wins over the built-in one for that company's messages (DOMAIN.md, "Templates").

Rendering runs in a sandbox (:class:`LimitedEnvironment`): no attribute access to internals,
ranges, powers and repetitions bounded, and the output cut off at a size limit. The check at
save renders the sample in a separate process with a time and memory limit
(``notifier.service_layer.template_check``), so a template that would hang or exhaust the
service is refused before anyone can approve it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg
from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from notifier.domain import owner_text, sms
from notifier.domain.channels import CHANNELS
from notifier.domain.wording import findings

#: Characters a rendering may produce (body or subject; a letter's text fits many times).
MAX_OUTPUT_CHARS = 10_000
#: Items a ``range()`` in a template may have, the largest exponent, the longest repetition.
MAX_RANGE = 1_000
MAX_EXPONENT = 64


class OutputTooLong(SecurityError):
    """The rendering exceeded the output limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the rendering exceeds {limit} characters")
        self.limit = limit


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range() of more than {MAX_RANGE} items")
    return rng


_bounded_range.__name__ = "range"  # as refusals name it


#: A width or precision of five digits or more in a format string ("%100000s", "{:>99999}").
_WIDE_FORMAT = re.compile(r"\d{5,}")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 0


def _check_arguments(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse, before the call, what would build a value beyond the output limit: a large
    number (a width, a count), a wide format, a replacement that multiplies the text."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"{name}: argument {value} beyond {MAX_OUTPUT_CHARS}")
    if name in {"format", "replace"} and args and isinstance(args[0], str):
        if name == "format" and _WIDE_FORMAT.search(args[0]):
            raise SecurityError("format: width or precision too large")
        if name == "replace" and len(args) >= 3:
            text, old, new = (str(a) for a in args[:3])
            if len(text) // max(1, len(old)) * len(new) + len(text) > MAX_OUTPUT_CHARS:
                raise SecurityError(f"replace: result beyond {MAX_OUTPUT_CHARS} characters")


def _check_result(name: str, result: Any) -> Any:
    if _size(result) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"{name}: result beyond {MAX_OUTPUT_CHARS} items")
    return result


def _bounded_filter(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(f)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        # Filters that take the environment or context get it first: check the rest.
        shown = args[1:] if getattr(f, "jinja_pass_arg", None) is not None else args
        _check_arguments(name, tuple(shown), kwargs)
        return _check_result(name, f(*args, **kwargs))

    return bounded


class LimitedEnvironment(SandboxedEnvironment):
    """Jinja2's sandbox, plus bounds on what one expression may build: ``**`` with an
    exponent above :data:`MAX_EXPONENT`, ``*`` repeating a text or list beyond the output
    limit, ``range()`` beyond :data:`MAX_RANGE`, ``%`` with a wide format, and filters or
    methods given a number beyond the output limit (a width, a count) or returning more are
    refused (the sandbox never constant-folds an intercepted operator at compile time: it
    goes through :meth:`call_binop`). With :func:`structure_problems` refusing macros,
    recursive and nested loops at save, a rendering's time grows with the template's size,
    not exponentially."""

    intercepted_binops = frozenset({"**", "*", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)
        self.globals["range"] = _bounded_range
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent above {MAX_EXPONENT}")
            if isinstance(left, int) and abs(left).bit_length() > 1024:
                raise SecurityError("number too large")
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    if len(seq) * times > MAX_OUTPUT_CHARS:
                        raise SecurityError(f"repetition beyond {MAX_OUTPUT_CHARS} items")
        elif operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise SecurityError("format: width or precision too large")
        return _check_result(operator, super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``"...".format`` / ``format_map``: the format string checked before formatting."""
        if isinstance(getattr(value, "__self__", None), str) and _WIDE_FORMAT.search(
            value.__self__
        ):
            raise SecurityError("format: width or precision too large")
        return super().wrap_str_format(value)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "call")
        if name == "replace" and isinstance(getattr(__obj, "__self__", None), str):
            _check_arguments(name, (__obj.__self__, *args), kwargs)
        else:
            _check_arguments(name, args, kwargs)
        return _check_result(name, super().call(__context, __obj, *args, **kwargs))


def structure_problems(part: str, parsed: nodes.Template) -> list[str]:
    """Constructs a message template never needs and that make rendering time explode:
    macros and call blocks (recursion), recursive loops, a loop inside a loop, includes."""
    problems: list[str] = []
    banned = {
        nodes.Macro: "{% macro %}",
        nodes.CallBlock: "{% call %}",
        nodes.Include: "{% include %}",
        nodes.Import: "{% import %}",
        nodes.FromImport: "{% from ... import %}",
        nodes.Extends: "{% extends %}",
    }
    for kind, label in banned.items():
        if any(True for _ in parsed.find_all(kind)):
            problems.append(f"{part}: {label} is not allowed in a message template")
    for loop in parsed.find_all(nodes.For):
        if loop.recursive:
            problems.append(f"{part}: a recursive loop is not allowed in a message template")
        if any(True for _ in loop.find_all(nodes.For)):
            problems.append(f"{part}: a loop inside a loop is not allowed in a message template")
    return sorted(set(problems))


ENV = LimitedEnvironment()
#: What a template may use (composer.context fills them; one a message does not have is
#: absent, and a template using it unguarded fails loudly: ``{% if period is defined %}``).
VARIABLES = frozenset(
    {
        "room",
        "amount",
        "deadline",
        "deadline_date",
        "pay_link",
        "contact",
        "company",
        "community",
        "period",
        "due_date",
        "days_overdue",
        "overdue",
        "partial",
        "paid_amount",
        "tier",
        "stage",
        "paid_date",
        "pay_channel",
        "bills",
        "complaint_line",
        "total",
        "parts",
        "company_name",
        "dispute_contact",
    }
)
#: Sender identity (DOMAIN.md: every template, in every channel): one of these variables (the
#: renderer fills them from CommunityUpdated's ``company_name``), or the company's name
#: written out. In SMS the registered sign name (【签名】) the provider prefixes is the
#: company's identity.
SENDER_VARIABLES = ("company", "company_name")
#: A way to dispute: one of these variables (filled from the community's ``complaint_line``
#: or ``service_phone``, never empty), or the company's phone / complaint line written out.
DISPUTE_VARIABLES = ("contact", "complaint_line", "dispute_contact")
#: What an SMS must carry (issue 6: room, amount, deadline, pay link and contact).
REQUIRED_SMS = {
    "reminder": ("room", "amount", "deadline", "pay_link", "contact"),
    "bill": ("room", "amount", "deadline", "pay_link", "contact"),
    "confirmation": ("room", "amount", "deadline", "pay_link", "contact"),
    "receipt": ("room", "amount", "pay_channel"),
}
#: SMS types that must fit one segment with the sample values (refused at save when they do
#: not); any other type is saved with a warning (issue 19: the cost a company pays).
ONE_SEGMENT_TYPES = frozenset({"bill", "reminder"})
SUBJECTS = {
    "bill": "物业费账单",
    "receipt": "缴费回执",
    "reminder": "物业费缴费提醒",
    "confirmation": "缴费安排确认",
}
#: A pay-link token of real length (propfee.pay_links: 6 + 3 characters).
SAMPLE_TOKEN = "aB3xK9q2Z"
#: Long-ish realistic values: a template that fits with these fits in practice. The pay link
#: is built from the configured base (:func:`samples`).
SAMPLE: dict[str, Any] = {
    "room": "12栋3单元2801",
    "amount": "12345.67",
    "deadline": "12月31日",
    "deadline_date": "2026年12月31日",
    "pay_link": "https://pf.cn/p/" + SAMPLE_TOKEN,
    "contact": "075512345678",
    "company": "示例物业服务有限公司",
    "community": "示例花园",
    "period": "2026年11月—2027年1月",
    "due_date": "2026年1月31日",
    "days_overdue": 365,
    "overdue": True,
    "partial": False,
    "paid_amount": "2345.67",
    "tier": "red",
    "stage": "reminder",
    "paid_date": "12月31日",
    "pay_channel": "银行代扣",
    "bills": 3,
    "complaint_line": "075512345679",
    "total": "12345.67",
    "parts": 12,
    "company_name": "示例物业服务有限公司",
    "dispute_contact": "075512345679",
}


#: Variables a message type never has (composer.context leaves them out): a template using
#: one is refused at save, not at send.
NEVER = {
    "bill": frozenset(
        {"paid_date", "pay_channel", "bills", "paid_amount", "days_overdue", "due_date"}
        | {"parts", "total"}
    ),
    "receipt": frozenset(
        {"pay_link", "deadline", "deadline_date", "paid_amount", "days_overdue", "due_date"}
        | {"parts", "total"}
    ),
    "reminder": frozenset({"paid_date", "pay_channel", "bills", "parts", "total"}),
    "confirmation": frozenset(
        {"paid_date", "pay_channel", "bills", "paid_amount", "days_overdue", "due_date"}
    ),
}


def samples(
    channel: str, pay_link_base: str = "https://pf.cn/p/", message_type: str | None = None
) -> list[dict[str, Any]]:
    """The sample contexts a template is checked with, holding only what ``message_type``'s
    messages have: an overdue reminder, the same after a part payment, a notice before the
    due date; the pay link as ``channel`` prints it."""
    link = pay_link_base.rstrip("/") + "/" + SAMPLE_TOKEN
    never = NEVER.get(message_type or "", frozenset())
    base = {
        **{k: v for k, v in SAMPLE.items() if k not in never},
        **(
            {"pay_link": sms.short_link(link) if channel == "sms" else link}
            if "pay_link" not in never
            else {}
        ),
    }
    # A reminder's or a receipt's invoices may be unknown here (issued before the notifier
    # kept their periods): a template must guard {{ period }} with "is defined".
    unknown_period = {k: v for k, v in base.items() if k != "period"}
    if message_type == "receipt":
        return [
            {**base, "overdue": False, "stage": "receipt"},
            {**unknown_period, "overdue": False},
        ]
    if message_type != "reminder":
        return [{**base, "overdue": False, "stage": message_type or "bill"}]
    unpaid = {k: v for k, v in base.items() if k != "paid_amount"}
    return [
        {**unpaid, "partial": False},
        {**base, "partial": True},
        {**unpaid, "partial": False, "overdue": False, "days_overdue": 0,
         "stage": "notice_before_due"},
        {k: v for k, v in unpaid.items() if k != "period"} | {"partial": False},
    ]  # fmt: skip


_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_]\w*)")


@dataclass(frozen=True, slots=True)
class Template:
    template_id: str
    version: int  # 0: built in
    body: str
    subject: str | None = None
    provider_codes: dict[str, str] | None = None

    def variables(self) -> list[str]:
        """Variables in order of first appearance (the order of SMS template parameters)."""
        return list(dict.fromkeys(_VARIABLE.findall(self.body)))


def template_id(message_type: str, stage: str | None, channel: str, locale: str) -> str:
    return f"{message_type}.{stage or '*'}.{channel}.{locale}"


@functools.lru_cache(maxsize=256)
def builtin(
    message_type: str, channel: str, locale: str, stage: str | None = None
) -> Template | None:
    folder = resources.files("notifier").joinpath("templates")
    names = [f"{message_type}.{channel}.{locale}.j2", f"{message_type}.any.{locale}.j2"]
    if stage:  # a stage's own wording first (e.g. confirmation.plan.any.zh-CN.j2)
        names[:0] = [f"{message_type}.{stage}.{channel}.{locale}.j2"]
        names[1:1] = [f"{message_type}.{stage}.any.{locale}.j2"] if channel != "sms" else []
    for name in names:
        entry = folder.joinpath(name)
        if entry.is_file():
            return Template(f"builtin:{name}", 0, entry.read_text("utf-8").strip())
    return None


def validate(
    message_type: str,
    channel: str,
    body: str,
    subject: str | None,
    *,
    sign_name: str,
    max_segments: int,
    sender_names: tuple[str, ...] = (),
    dispute_contacts: tuple[str, ...] = (),
    max_output: int = MAX_OUTPUT_CHARS,
    pay_link_base: str = "https://pf.cn/p/",
) -> list[str]:
    """Every reason to refuse this template; empty when it may be saved (or approved, or
    shipped as a built-in one: :func:`builtin_problems`).

    Every template, whatever the channel, names its sender and a dispute contact: it uses a
    sender variable and a dispute variable, or its sample rendering names one of the
    company's ``sender_names`` and one of its ``dispute_contacts`` (phone numbers, complaint
    lines). Wording (:mod:`notifier.domain.wording`) is checked on the sample rendering and
    on the template's literal text (a branch the sample does not take is checked too); each
    refusal names the phrase found and the channel.

    Renders in this process: call it through ``template_check.check`` (a separate process
    with a time and memory limit) for text staff send."""
    problems: list[str] = []
    used: set[str] = set()
    for part, source in (("body", body), ("subject", subject or "")):
        try:
            parsed = ENV.parse(source)
        except TemplateSyntaxError as exc:
            problems.append(f"{part}: syntax error at line {exc.lineno}: {exc.message}")
            continue
        problems += structure_problems(part, parsed)
        found = meta.find_undeclared_variables(parsed)
        used |= found
        problems += [f"{part}: unknown variable '{name}'" for name in sorted(found - VARIABLES)]
    if problems:
        return problems
    texts: list[str] = []
    bodies: list[str] = []
    for part, source, sample in [
        *(("body", body, sample) for sample in samples(channel, pay_link_base, message_type)),
        ("subject", subject or "", SAMPLE),
    ]:
        try:
            texts.append(render(source, sample, max_output=max_output))
            if part == "body":
                bodies.append(texts[-1])
        except OutputTooLong as exc:
            return [
                f"{part}: the sample rendering exceeds the output limit of {exc.limit} "
                "characters (NOTIFIER_TEMPLATE_MAX_OUTPUT_CHARS)"
            ]
        except SecurityError as exc:
            return [f"{part}: refused by the rendering limits: {exc}"]
        except (MemoryError, RecursionError):
            raise  # the checker's process reports which limit
        except Exception as exc:
            return [f"{part}: cannot be rendered: {exc}"]
    problems += wording_problems(channel, message_type, texts, (body, subject or ""))
    problems += [
        f"body: the sample rendering writes what an owner may not read: {p}"
        for p in dict.fromkeys(p for text in texts for p in owner_text.problems(text))
    ]
    shown = "\n".join(texts)
    names = [n for n in sender_names if n]
    signed = channel == "sms" and bool(sign_name)  # the registered 【sign】 is the identity
    if not signed and not used & set(SENDER_VARIABLES) and not any(n in shown for n in names):
        problems.append(
            f"body: no sender identity in the {channel} template: use {{{{ company }}}} or "
            "write the company's name" + (f" ({'/'.join(names)})" if names else "")
        )
    contacts = [c for c in dispute_contacts if c]
    if not used & set(DISPUTE_VARIABLES) and not any(c in shown for c in contacts):
        problems.append(
            f"body: no dispute contact in the {channel} template: use {{{{ contact }}}}, "
            "{{ complaint_line }} or {{ dispute_contact }}, or write the company's service "
            "phone or complaint line"
        )
    if channel == "sms":
        in_body = set(_VARIABLE.findall(body))
        problems += [
            f"body: an SMS {message_type} must carry '{name}'"
            for name in REQUIRED_SMS.get(message_type, ())
            if name not in in_body
        ]
        longest = max(bodies, key=lambda b: sms.count(sms.with_sign(sign_name, b)).units)
        too_long = sms.length_problem(sms.with_sign(sign_name, longest), max_segments)
        if too_long:
            problems.append(f"body: {too_long} (with sample values)")
        elif message_type in ONE_SEGMENT_TYPES:
            problems += segment_findings(body, sign_name, pay_link_base, message_type)
    return problems


def segment_findings(
    body: str,
    sign_name: str,
    pay_link_base: str = "https://pf.cn/p/",
    message_type: str | None = None,
) -> list[str]:
    """Why this SMS body costs more than one segment with the sample values (empty when it
    fits in one for every sample): refused at save for bills and reminders, a warning for
    other types (:data:`ONE_SEGMENT_TYPES`)."""
    try:
        rendered = [render(body, sample) for sample in samples("sms", pay_link_base, message_type)]
    except Exception:  # validate() reports why it cannot be rendered
        return []
    longest = max(rendered, key=lambda b: sms.count(sms.with_sign(sign_name, b)).units)
    problem = sms.length_problem(sms.with_sign(sign_name, longest), 1)
    return [f"body: {problem} (with sample values): one segment is billed once"] if problem else []


def literal_text(source: str) -> str:
    """The template's own words: its text and its string constants, in order (what a branch
    the sample rendering does not take would print)."""
    parsed = ENV.parse(source)
    pieces: list[str] = []
    for node in parsed.find_all((nodes.TemplateData, nodes.Const)):
        if isinstance(node, nodes.TemplateData):
            pieces.append(node.data)
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            pieces.append(node.value)
    return "".join(pieces)


def wording_problems(
    channel: str, message_type: str, rendered: list[str], sources: tuple[str, ...]
) -> list[str]:
    """Refused wording (:func:`notifier.domain.wording.findings`) in the sample rendering or in
    the template's literal text, each naming the phrase and the channel."""
    found = findings("\n".join(rendered), message_type)
    found += findings("\n".join(literal_text(s) for s in sources), message_type)
    return [
        f"wording: '{f.phrase}' ({f.rule}) is refused in a {channel} template"
        for f in dict.fromkeys(found)
    ]


def builtin_problems(
    sign_name: str, max_segments: int, pay_link_base: str = "https://pf.cn/p/"
) -> dict[str, list[str]]:
    """The problems of every built-in template (the same check as a saved one, and every
    built-in SMS fits one segment with the sample values, whatever its type); empty when
    every one may ship."""
    folder = resources.files("notifier").joinpath("templates")
    out: dict[str, list[str]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".j2"):
            continue
        parts = entry.name.split(".")
        message_type, channel = parts[0], parts[-3]
        body = entry.read_text("utf-8").strip()
        # An "any" template serves every channel but SMS (which has its own).
        serves = [c for c in CHANNELS if c != "sms"] if channel == "any" else [channel]
        problems = [
            p
            for c in serves
            for p in validate(
                message_type,
                c,
                body,
                None,
                sign_name=sign_name,
                max_segments=max_segments,
                pay_link_base=pay_link_base,
            )
        ]
        if channel == "sms":
            problems += segment_findings(body, sign_name, pay_link_base, message_type)
        if problems:
            out[entry.name] = list(dict.fromkeys(problems))
    return out


@functools.lru_cache(maxsize=512)
def _compiled(source: str) -> Any:
    return ENV.from_string(source)


def render(source: str, context: dict[str, Any], *, max_output: int = MAX_OUTPUT_CHARS) -> str:
    """The text, streamed and cut off (:class:`OutputTooLong`) past ``max_output``
    characters, so an unbounded loop never builds an unbounded string."""
    chunks: list[str] = []
    size = 0
    for chunk in _compiled(source).generate(context):
        size += len(chunk)
        if size > max_output:
            raise OutputTooLong(max_output)
        chunks.append(chunk)
    return "".join(chunks).strip()


def subject_source(subject: str | None, message_type: str) -> str:
    """A message's subject template: the template's own, or the company and the type's name
    (the composer's, the preview's)."""
    return subject or f"{{{{ company }}}}：{SUBJECTS.get(message_type, '通知')}"


def shown(
    channel: str,
    message_type: str,
    body: str,
    subject: str | None,
    context: dict[str, Any],
    *,
    sign_name: str,
    max_output: int = MAX_OUTPUT_CHARS,
) -> tuple[str, str]:
    """The subject and body a message on ``channel`` carries with ``context``: rendered,
    and an SMS signed. The composer sends this; the staff preview shows it with sample
    values (one home for what a template becomes)."""
    text = render(body, context, max_output=max_output)
    title = render(subject_source(subject, message_type), context, max_output=max_output)
    return title, sms.with_sign(sign_name, text) if channel == "sms" else text


def preview(
    message_type: str,
    channel: str,
    body: str,
    subject: str | None,
    *,
    sign_name: str,
    pay_link_base: str = "https://pf.cn/p/",
    max_output: int = MAX_OUTPUT_CHARS,
) -> dict[str, Any]:
    """The template as an owner would read it on ``channel``, with the first sample values
    (:func:`samples`); an SMS with its sign and its segment count. Renders in this process:
    call it through ``template_check`` for text staff send."""
    context = samples(channel, pay_link_base, message_type)[0]
    title, text = shown(
        channel, message_type, body, subject, context, sign_name=sign_name, max_output=max_output
    )
    return {
        "channel": channel,
        "subject": title,
        "body": text,
        "sms_segments": sms.count(text).segments if channel == "sms" else None,
        "sample": {k: v for k, v in context.items() if isinstance(v, str | int | bool)},
    }


async def latest(
    conn: asyncpg.Connection, company_ids: list[str] | None = None
) -> dict[tuple[str, str], Template]:
    """The template in use per (company, saved template id): its highest approved version
    (drafts never render). ``company_ids``: only these companies' (None: all)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (company_id, template_id) company_id, template_id, version, body, "
        "subject, provider_codes FROM templates WHERE status = 'approved' "
        "AND company_id IS NOT NULL AND ($1::text[] IS NULL OR company_id = ANY($1)) "
        "ORDER BY company_id, template_id, version DESC",
        company_ids,
    )
    return {
        (r["company_id"], r["template_id"]): Template(
            r["template_id"], r["version"], r["body"], r["subject"], r["provider_codes"]
        )
        for r in rows
    }


def pick(
    saved: dict[tuple[str, str], Template],
    company_id: str | None,
    message_type: str,
    stage: str | None,
    channel: str,
    locale: str,
) -> Template | None:
    """Most specific first: stage, any stage; the party's locale, then zh-CN; the company's
    approved template, then the built-in default."""
    for loc in dict.fromkeys((locale, "zh-CN")):
        for st in (stage, None) if stage else (None,):
            found = saved.get((company_id or "", template_id(message_type, st, channel, loc)))
            if found:
                return found
        found = builtin(message_type, channel, loc, stage)
        if found:
            return found
    return None
