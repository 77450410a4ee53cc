"""Issue 18 rule 7: a policy may add the owner jointly liable with a tenant who pays from a
configured stage (``joint_liability_from_stage``); it must name a stage of the policy."""

import pytest
from pydantic import ValidationError

from dunning.domain.default_policy import DEFAULT_POLICY
from dunning.domain.policy import Policy
from dunning.entrypoints.http_policies import policy_refusals


def test_joint_liability_is_off_by_default_and_names_a_stage_of_the_policy() -> None:
    assert DEFAULT_POLICY.joint_liability_from_stage is None
    document = DEFAULT_POLICY.model_dump(mode="json")
    chosen = Policy.model_validate({**document, "joint_liability_from_stage": "final_letter"})
    assert chosen.joint_liability_from_stage == "final_letter"
    with pytest.raises(ValidationError) as info:
        Policy.model_validate({**document, "joint_liability_from_stage": "lawsuit_owner"})
    assert policy_refusals(info.value) == [
        "joint_liability_from_stage: 'lawsuit_owner' is not a stage of the policy"
    ]
