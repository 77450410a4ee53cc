from typing import Any, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from propfee.settings import LOCAL_PG, ServiceSettings

DEFAULT_COSTS_FEN: dict[str, int] = {
    "sms": 5,
    "wechat": 0,
    "app_push": 0,
    "email": 0,
    "letter": 2200,
    "door_notice": 50,
    "phone_call": 300,
    "visit": 3000,
    "letter_delivery": 2200,
    "lawyer_letter": 50000,
    "mediation": 20000,
    "lawsuit": 300000,
    "enforcement": 200000,
}


class DunningSettings(ServiceSettings):
    """Environment variables prefixed ``DUNNING_`` (e.g. ``DUNNING_DATABASE_URL``).

    Policies (ladder, tiers, quiet hours, cap, time zone) are data: ``PUT /policies/{id}``."""

    model_config = SettingsConfigDict(env_prefix="DUNNING_", extra="ignore")

    service_name: str = "dunning"
    database_url: str = f"{LOCAL_PG}/dunning"
    http_port: int = 8103
    BACKGROUND_OFF: ClassVar[dict[str, Any]] = {
        **ServiceSettings.BACKGROUND_OFF,
        "sweep_interval_s": 0.0,
        "sweep_claimers": 0,
        "job_workers": 0,
    }
    #: Background sweep as of the wall clock every this many seconds; 0 turns it off (then
    #: sweeps run only through ``POST /sweeps``). The first runs one interval after start.
    sweep_interval_s: float = 900.0
    #: Background loops claiming sweep work items (any replica's sweep; each on its own
    #: connection); 0: this process works only on the sweeps it is asked for.
    sweep_claimers: int = Field(default=2, ge=0, le=16)
    #: How often an idle claimer looks for a pending sweep item (seconds).
    sweep_claim_interval_s: float = Field(default=1.0, gt=0)
    #: Background loops working bulk jobs' items (the console's bulk actions; any replica's
    #: jobs, a chunk per transaction; idle ones look again every sweep_claim_interval_s).
    job_workers: int = Field(default=1, ge=0, le=16)
    #: Cost of one message or task per channel in fen, for the cost-per-chase KPI.
    channel_costs_fen: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_COSTS_FEN))
