"""Who may call what in notifier, the scoping lookups (404 for what the caller may not see) and
the masking of message texts and contacts (services/notifier/README.md has the table).

- messages (``GET /notifications``): staff and the service role; the bodies are evidence with
  personal data, masked (like the contacts) for roles outside ``CONTACT_ROLES``;
- documents (a letter's PDF): the roles that see contacts only (a PDF cannot be masked);
- dispatch: the service role (the dispatcher's clock, any instant, the whole deployment) and
  company admins (as of now, their communities' messages only);
- letters (print batches, tracking numbers) and manual receipts: fee clerks, housekeepers,
  customer service, community managers, company admins; print batches and tracking numbers
  also the service role (the simulation's post office, on the simulated clock), which never
  reads a batch's PDF;
- a letter's posting and delivery proof (its tracking number, the carrier's delivery status or
  the signed receipt): the letter roles above and legal (法务), who send and follow the demand
  letters (催告函, 律师函) of the legal track and keep their proof of delivery (DOMAIN.md:
  only a delivered demand meets the legal-referral precondition); legal neither prints batches
  nor reads their PDFs;
- templates: belong to a company; saved and approved by company-level staff
  (``Principal.company_level``: a company admin of every community of the company) or the service
  role, a different person approving each version; read by staff of the company;
- preferences and contact rules: set by customer service, community managers, company admins;
- provider delivery callbacks are not staff endpoints: open, authenticated by their signature
  (WeChat) or the callback token (Alibaba, Tencent; ``NOTIFIER_RECEIPT_CALLBACK_TOKEN``).

The scoped loaders (404 for what the caller may not see, the rule for communities notifier
has not heard of yet) are ``notifier.service_layer.access``; the use cases call them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends

from propfee.auth import (
    CONTACT_ROLES,
    STAFF_READ,
    Principal,
    Role,
    mask_personal,
    require,
)
from propfee.masking import mask_data

READ = STAFF_READ | {Role.service}
DOCUMENTS = CONTACT_ROLES
DISPATCH = frozenset({Role.service, Role.company_admin})
LETTERS = frozenset(
    {
        Role.fee_clerk,
        Role.housekeeper,
        Role.customer_service,
        Role.community_manager,
        Role.company_admin,
    }
)
#: Print batches and tracking numbers: also the service role (the demo's post office, on the
#: simulated clock); it never reads the PDFs (they cannot be masked).
LETTER_RECORDS = LETTERS | {Role.service}
#: A letter's tracking number and delivery proof: also legal (the legal track's demand letters).
LETTER_PROOF = LETTER_RECORDS | {Role.legal}
TEMPLATE_WRITE = frozenset({Role.company_admin, Role.service})
CONTACT_WRITE = frozenset({Role.customer_service, Role.community_manager, Role.company_admin})

Reader = Annotated[Principal, Depends(require(*READ))]
DocumentReader = Annotated[Principal, Depends(require(*DOCUMENTS))]
Dispatcher = Annotated[Principal, Depends(require(*DISPATCH))]
LetterClerk = Annotated[Principal, Depends(require(*LETTERS))]
LetterRecorder = Annotated[Principal, Depends(require(*LETTER_RECORDS))]
LetterProofRecorder = Annotated[Principal, Depends(require(*LETTER_PROOF))]
TemplateWriter = Annotated[Principal, Depends(require(*TEMPLATE_WRITE))]
ContactWriter = Annotated[Principal, Depends(require(*CONTACT_WRITE))]

#: Message texts: evidence of what was sent, with the household's room, amounts, names.
MESSAGE_TEXT = ("body", "subject_line")


def _hide(text: str) -> str:
    return text[:1] + "*" * min(len(text) - 1, 8) if len(text) > 1 else "*"


def mask_message(principal: Principal, row: Mapping[str, Any]) -> dict[str, Any]:
    """A message as the caller may read it: as stored for ``CONTACT_ROLES``; otherwise the
    texts hidden (first character kept) and the proof's contact data masked."""
    out = mask_personal(principal, dict(row))
    if principal.sees_contacts:
        return out
    for key in MESSAGE_TEXT:
        if isinstance(out.get(key), str) and out[key]:
            out[key] = _hide(out[key])
    if out.get("proof") is not None:
        out["proof"] = mask_data(out["proof"])
    return out
