"""The demo's community and the people in it: a ledger shaped like seed 002 and owner personas.

The community comes from ``../shared/data/sample-ledger.csv`` (1,236 households: 982 lived-in,
187 vacant, 67 shops). A smaller demo takes a stratified, seeded sample of it, so 60 households
still have vacant units, shops, tenants, parking and opening arrears. Every random choice comes
from one ``random.Random(seed)``: the same seed gives the same community and the same year.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_LEDGER = ROOT.parent / "shared" / "data" / "sample-ledger.csv"

#: Persona → share of lived-in households; vacant units are mostly paid on time by absent owners.
PERSONAS: dict[str, float] = {
    "on_time": 0.58,
    "prepays_yearly": 0.07,
    "forgets": 0.12,
    "pays_after_reminder": 0.12,
    "hardship": 0.03,
    "unhappy_with_service": 0.04,
    "landlord_tenant_dispute": 0.02,
    "refuses": 0.02,
}

#: What a staff call or visit hears from each persona (dunning's reason codes).
REASON_OF: dict[str, str] = {
    "on_time": "forgot",
    "prepays_yearly": "forgot",
    "forgets": "forgot",
    "pays_after_reminder": "forgot",
    "hardship": "hardship",
    "unhappy_with_service": "unhappy_with_service",
    "landlord_tenant_dispute": "landlord_tenant_dispute",
    "refuses": "refuses",
}

#: Channels the owner pays through (weights), as in seed 002: mostly WeChat, then Alipay.
PAY_CHANNELS: dict[str, float] = {
    "wechat_pay": 0.55,
    "alipay": 0.28,
    "unionpay": 0.07,
    "counter": 0.10,
}


@dataclass
class Household:
    """One household of the ledger as the simulator (the world) knows it."""

    row: dict[str, str]
    persona: str
    channel: str
    wechat: bool  # follows the company's official account (a WeChat openid)
    app: bool  # uses the owner app
    unit_id: str = ""
    payer_party_id: str = ""
    owner_party_id: str = ""
    qr_sig: str = ""
    #: Owner-side state during the year.
    reminded_on: list[str] = field(default_factory=list)
    promise_until: str | None = None
    paused: bool = False
    plan_created: bool = False

    @property
    def unit_key(self) -> str:
        # billing's natural key of a unit: building/entrance/room ("-" without an entrance)
        return f"{self.row['楼栋']}/{self.row['单元'] or '-'}/{self.row['房号']}"

    @property
    def phone(self) -> str:
        payer = self.row["缴费责任人"]
        return self.row["租户电话"] if payer == "租户" else self.row["业主电话"]

    @property
    def postal_address(self) -> str:
        """Where letters go: the unit itself, or for a vacant unit the owner's own address
        elsewhere (the clerk records both)."""
        room = f"{self.row['楼栋']}{self.row['单元']}{self.row['房号']}室"
        if self.kind == "vacant":
            n = int(hashlib.sha256(self.unit_key.encode()).hexdigest()[:6], 16) % 900 + 100
            return f"上海市浦东新区世纪大道{n}号（阳光花园{room}业主）"
        return f"杭州市西湖区示例路1号阳光花园{room}"

    @property
    def kind(self) -> str:
        if self.row["房屋类型"] == "商铺":
            return "shop"
        return "vacant" if self.row["房屋状态"] == "空置" else "lived_in"

    @property
    def opening_arrears_fen(self) -> int:
        value = self.row.get("期初欠费金额") or ""
        return round(float(value) * 100) if value else 0


def read_sample(path: Path = SAMPLE_LEDGER) -> tuple[list[str], list[dict[str, str]]]:
    if not path.exists():
        raise SystemExit(
            f"demo: the sample ledger is missing: {path} (../shared must sit beside the repo)"
        )
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def choose_rows(rows: list[dict[str, str]], households: int, rng: random.Random) -> list[dict]:
    """All rows, or a sample stratified by kind (and keeping some opening arrears)."""
    if households >= len(rows):
        return rows
    strata: dict[tuple[str, str, bool], list[int]] = {}
    for i, r in enumerate(rows):
        key = (r["房屋类型"], r["房屋状态"], bool(r.get("期初欠费金额")))
        strata.setdefault(key, []).append(i)
    chosen: list[int] = []
    for key in sorted(strata):
        members = strata[key]
        take = max(1, round(len(members) * households / len(rows)))
        chosen += rng.sample(members, min(take, len(members)))
    rng.shuffle(chosen)
    return [rows[i] for i in sorted(chosen[:households])]


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def build(seed: int, households: int) -> tuple[bytes, list[Household]]:
    """The ledger file to import (CSV bytes, Chinese headers) and the households behind it."""
    rng = random.Random(seed)
    columns, rows = read_sample()
    rows = choose_rows(rows, households, rng)
    people: list[Household] = []
    for row in rows:
        vacant = row["房屋状态"] == "空置"
        if row.get("期初欠费金额"):
            # Households that came with arrears: half clear them after reminders, some refuse.
            persona = rng.choices(
                ["pays_after_reminder", "forgets", "refuses", "hardship"], [0.5, 0.25, 0.15, 0.1]
            )[0]
        elif vacant:
            persona = rng.choices(["on_time", "prepays_yearly", "forgets"], [0.7, 0.15, 0.15])[0]
        else:
            persona = _weighted(rng, PERSONAS)
        people.append(
            Household(
                row=row,
                persona=persona,
                channel=_weighted(rng, PAY_CHANNELS),
                wechat=rng.random() < 0.35,
                app=rng.random() < 0.15,
            )
        )
    # The scripted cases the year must show, on the first matching households.
    _ensure(people, "landlord_tenant_dispute", lambda h: h.row["缴费责任人"] == "租户")
    _ensure(people, "hardship", lambda h: h.kind == "lived_in")
    _ensure(people, "unhappy_with_service", lambda h: h.kind == "lived_in")
    _ensure(people, "refuses", lambda h: h.opening_arrears_fen > 0)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(h.row for h in people)
    return out.getvalue().encode("utf-8"), people


def _ensure(people: Sequence[Household], persona: str, fits: object) -> None:
    if any(h.persona == persona for h in people):
        return
    for h in people:
        if h.persona == "on_time" and fits(h):  # type: ignore[operator]
            h.persona = persona
            return
