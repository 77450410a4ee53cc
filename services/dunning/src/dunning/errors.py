"""Dunning's errors: ``propfee.problems`` classes (each carries its HTTP status), mapped once
by the app factory. The service layer raises them; routes only translate their input."""

from __future__ import annotations

from collections.abc import Sequence

from propfee.problems import Conflict, Forbidden, InvalidInput, NotFound

__all__ = ["CaseRefused", "Forbidden", "InvalidInput", "NotFound", "PolicyRefused"]


class CaseRefused(Conflict):
    """409: the law or the case's state refuses what was asked (``refused``: the first code,
    ``reason``: in words a person can act on; ``unmet``: every unmet precondition as
    ``{code, detail}``, the first one included)."""

    def __init__(
        self, code: str, reason: str, unmet: Sequence[tuple[str, str]] | None = None
    ) -> None:
        conditions = [{"code": c, "detail": d} for c, d in (unmet or [(code, reason)])]
        super().__init__(reason, refused=code, reason=reason, unmet=conditions)


class PolicyRefused(InvalidInput):
    """422: a policy or a community's settings refused when stored, with every reason
    (``refused``)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons) or "refused", refused=reasons)
