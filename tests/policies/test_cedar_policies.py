"""The Cedar policies: valid against the schema, every policy with a unique @id, loaded once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cedarpy
import pytest

from policies.engine import CEDAR_DIR, PolicyEngine, PolicyLoadError
from policies.model import Decision


def policy_text() -> str:
    return "\n".join(p.read_text() for p in sorted(CEDAR_DIR.glob("*.cedar")))


def test_policies_validate_against_the_schema() -> None:
    result = cedarpy.validate_policies(
        policy_text(), (CEDAR_DIR / "schema.cedarschema").read_text()
    )
    assert result.validation_passed, [str(e) for e in result.errors]


def test_every_policy_has_an_id_and_ids_are_unique() -> None:
    parsed = json.loads(cedarpy.policies_to_json_str(policy_text()))["staticPolicies"]
    ids = [body.get("annotations", {}).get("id") for body in parsed.values()]
    assert all(ids)
    assert len(ids) == len(set(ids))


def test_every_forbid_says_why_in_words() -> None:
    parsed = json.loads(cedarpy.policies_to_json_str(policy_text()))["staticPolicies"]
    for body in parsed.values():
        if body["effect"] == "forbid":
            assert body["annotations"].get("reason"), body["annotations"]["id"]


def test_policies_are_formatted_parseably() -> None:
    assert cedarpy.format_policies(policy_text())


def test_engine_knows_layers_in_decision_order(engine: PolicyEngine) -> None:
    layers = [info.layer for info in engine.policies.values()]
    assert layers == sorted(layers, key=["roles", "agreements", "consent", "regulatory"].index)
    assert engine.policies["mou.required"].refrain == "NOMOU"


def copy_policies(tmp_path: Path) -> Path:
    target = tmp_path / "cedar"
    shutil.copytree(CEDAR_DIR, target)
    return target


def test_a_policy_without_id_stops_loading(tmp_path: Path) -> None:
    target = copy_policies(tmp_path)
    (target / "90-extra.cedar").write_text("permit (principal, action, resource);\n")
    with pytest.raises(PolicyLoadError, match="no @id"):
        PolicyEngine(target)


def test_a_duplicate_id_stops_loading(tmp_path: Path) -> None:
    target = copy_policies(tmp_path)
    (target / "90-extra.cedar").write_text(
        '@id("mou.required")\nforbid (principal, action, resource);\n'
    )
    with pytest.raises(PolicyLoadError, match="duplicate"):
        PolicyEngine(target)


def test_a_policy_that_does_not_typecheck_stops_loading(tmp_path: Path) -> None:
    target = copy_policies(tmp_path)
    (target / "90-extra.cedar").write_text(
        '@id("bad")\nforbid (principal, action, resource) when { context.no_such_fact };\n'
    )
    with pytest.raises(PolicyLoadError, match="validate"):
        PolicyEngine(target)


def test_refusals_do_not_name_policies_that_tell_the_kind_of_record(engine: PolicyEngine) -> None:
    def refusal(*ids: str) -> Decision:
        return Decision(allowed=False, policy_ids=ids, refusal_codes=("NORDSCLCDS",))

    both = engine.outward(refusal("mou.required", "part2.consent-required"))
    assert both.policy_ids == ("mou.required",)
    assert both.refusal_codes == ("NOMOU",) and "42 CFR" not in " ".join(both.reasons)
    # the only obstacle, and one the caller can act on (ask for consent): named
    alone = engine.outward(refusal("part2.consent-required"))
    assert alone.policy_ids == ("part2.consent-required",)
    # never named to law enforcement, even alone
    police = engine.outward(refusal("part2.no-law-enforcement-access"))
    assert police.policy_ids == ("default-deny",) and police.refusal_codes == ()
    allowed = Decision(allowed=True, policy_ids=("hipaa.psychotherapy-notes",))
    assert engine.outward(allowed) is allowed
