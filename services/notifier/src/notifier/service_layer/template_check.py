"""The check of a template staff save, in a separate process with limits (issue 16,
"Templates: rendering has time and size limits and runs off the event loop").

:func:`check` starts ``python -m notifier.service_layer.template_check`` (asyncio's
subprocess: the event loop keeps serving while it runs), sends it the template as JSON and
reads back the problems ``templates.validate`` finds. The child caps its own address space
(``memory_mb`` above what it uses at start) and CPU time; the parent kills it when the
rendering takes longer than ``timeout_s``. Every limit a template hits is named in the
problem staff get back (422), so a template that would hang or exhaust a dispatcher is
refused before anyone can approve it.

The answer is :class:`Findings`: the problems (refused) and the warnings (saved, told): an
SMS of a type other than bill or reminder that takes more than one segment with the sample
values costs twice per message (issue 19).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any

from notifier.domain.channels import CHANNELS

#: Time the child may take to start (import Jinja2) before the rendering clock starts.
STARTUP_TIMEOUT_S = 30.0
READY = b"ready\n"


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 2.0
    max_output_chars: int = 10_000
    memory_mb: int = 256


@dataclass(frozen=True)
class CheckRequest:
    message_type: str
    channel: str
    body: str
    subject: str | None
    sign_name: str
    max_segments: int
    sender_names: tuple[str, ...]
    dispute_contacts: tuple[str, ...]
    pay_link_base: str = "https://pf.cn/p/"
    #: Also answer the sample rendering as shown on the channel (``templates.preview``).
    preview: bool = False


@dataclass(frozen=True)
class Findings:
    problems: list[str]
    warnings: list[str]
    #: ``templates.preview``'s answer, when asked and the template renders.
    preview: dict[str, Any] | None = None


async def check_for_company(
    conn: Any,
    settings: Any,
    company_id: str,
    *,
    message_type: str,
    channel: str,
    body: str,
    subject: str | None,
    preview: bool = False,
) -> Findings:
    """Every reason to refuse ``company_id``'s template, at save and again at approval: an
    unknown channel, and :func:`check`'s (wording, sender identity and dispute contact
    against the company's names and contacts as known now, SMS rules, limits).
    ``settings``: the notifier's (sign name, segments, rendering limits)."""
    known = await conn.fetch(
        "SELECT company_name, service_phone, complaint_line FROM communities WHERE company_id = $1",
        company_id,
    )
    names = tuple(sorted({r["company_name"] for r in known if r["company_name"]}))
    contacts = tuple(
        sorted({c for r in known for c in (r["service_phone"], r["complaint_line"]) if c})
    )
    unknown = [] if channel in CHANNELS else [f"channel: unknown channel {channel}"]
    found = await check(
        CheckRequest(
            message_type=message_type,
            channel=channel,
            body=body,
            subject=subject,
            sign_name=settings.sms_sign_name,
            max_segments=settings.sms_max_segments,
            sender_names=names,
            dispute_contacts=contacts,
            pay_link_base=settings.pay_link_base_url,
            preview=preview,
        ),
        Limits(
            timeout_s=settings.template_render_timeout_s,
            max_output_chars=settings.template_max_output_chars,
            memory_mb=settings.template_render_memory_mb,
        ),
    )
    return Findings(unknown + found.problems, found.warnings, found.preview)


async def check(request: CheckRequest, limits: Limits) -> Findings:
    """Every reason to refuse the template (``templates.validate``'s, plus the time and
    memory limits), computed in a child process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier.service_layer.template_check",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        payload = {"request": asdict(request), "limits": asdict(limits)}
        proc.stdin.write(json.dumps(payload).encode() + b"\n")
        await proc.stdin.drain()
        proc.stdin.close()
        ready = await asyncio.wait_for(proc.stdout.readline(), STARTUP_TIMEOUT_S)
        if ready != READY:
            raise RuntimeError("the template checker did not start")
        try:
            answer = await asyncio.wait_for(proc.stdout.read(), limits.timeout_s)
        except TimeoutError:
            return Findings(
                [
                    f"body: the sample rendering takes longer than {limits.timeout_s:g} s "
                    "(NOTIFIER_TEMPLATE_RENDER_TIMEOUT_S)"
                ],
                [],
            )
        await proc.wait()
        if proc.returncode != 0 or not answer.strip():
            return Findings(
                [
                    f"body: the sample rendering needs more than {limits.memory_mb} MB "
                    "(NOTIFIER_TEMPLATE_RENDER_MEMORY_MB)"
                ],
                [],
            )
        found = json.loads(answer)
        return Findings(list(found["problems"]), list(found["warnings"]), found.get("preview"))
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def _limit_self(limits: Limits) -> None:
    import resource

    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            vm = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
        cap = vm * 1024 + limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    cpu = int(limits.timeout_s) + 2
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))


def main() -> None:
    payload: dict[str, Any] = json.loads(sys.stdin.readline())
    limits = Limits(**payload["limits"])
    req = payload["request"]
    from notifier.service_layer import templates  # imported before the limits apply

    _limit_self(limits)
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()
    preview: dict[str, Any] | None = None
    try:
        problems = templates.validate(
            req["message_type"],
            req["channel"],
            req["body"],
            req["subject"],
            sign_name=req["sign_name"],
            max_segments=req["max_segments"],
            sender_names=tuple(req["sender_names"]),
            dispute_contacts=tuple(req["dispute_contacts"]),
            max_output=limits.max_output_chars,
            pay_link_base=req["pay_link_base"],
        )
        warnings = (
            templates.segment_findings(
                req["body"], req["sign_name"], req["pay_link_base"], req["message_type"]
            )
            if req["channel"] == "sms" and req["message_type"] not in templates.ONE_SEGMENT_TYPES
            else []
        )
        renders = not any(p.startswith(("body: syntax", "subject: syntax")) for p in problems)
        if req.get("preview") and renders and not any("unknown variable" in p for p in problems):
            try:
                preview = templates.preview(
                    req["message_type"],
                    req["channel"],
                    req["body"],
                    req["subject"],
                    sign_name=req["sign_name"],
                    pay_link_base=req["pay_link_base"],
                    max_output=limits.max_output_chars,
                )
            except (MemoryError, RecursionError):
                raise
            except Exception:  # the problems already say why it cannot render
                preview = None
    except MemoryError:
        warnings = []
        problems = [
            f"body: the sample rendering needs more than {limits.memory_mb} MB "
            "(NOTIFIER_TEMPLATE_RENDER_MEMORY_MB)"
        ]
    except RecursionError:
        warnings = []
        problems = ["body: refused by the rendering limits: recursion too deep"]
    except Exception as exc:  # anything else the sample rendering raised
        warnings = []
        problems = [f"body: cannot be rendered: {type(exc).__name__}: {exc}"]
    answer = {"problems": problems, "warnings": warnings, "preview": preview}
    sys.stdout.buffer.write(json.dumps(answer, ensure_ascii=False).encode())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
