"""Match quality on a generated population with realistic errors (targets: precision ≥ 0.99,
recall ≥ 0.95 counting links a person confirms from the review queue), and the scoring rules."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

from gateway.mpi.matching import Thresholds, features, score
from tests.support.population import agency_records, people


def _evaluate(n: int) -> dict[str, float]:
    records = agency_records(people(n))
    feats = [(pid, agency, features(p)) for pid, agency, p in records]
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, (_, _, f) in enumerate(feats):
        keys = {f"b:{f.birth[:4]}", f"f:{f.family[:2]}"} | {f"i:{s}|{v}" for s, v in f.identifiers}
        for key in keys:
            blocks[key].append(i)
    pairs = {pair for members in blocks.values() for pair in combinations(members, 2)}
    thresholds = Thresholds()
    tp = fp = review_tp = review_fp = 0
    for i, j in pairs:
        pid_i, agency_i, fi = feats[i]
        pid_j, agency_j, fj = feats[j]
        if agency_i == agency_j:
            continue
        s = score(fi, fj).total
        same = pid_i == pid_j
        if s >= thresholds.link:
            tp, fp = tp + same, fp + (not same)
        elif s >= thresholds.review:
            review_tp, review_fp = review_tp + same, review_fp + (not same)
    true_pairs = n * 3  # three cross-agency pairs per person
    return {
        "precision": tp / max(tp + fp, 1),
        "recall_auto": tp / true_pairs,
        "recall_with_review": (tp + review_tp) / true_pairs,
        "review_share_false": review_fp / max(review_tp + review_fp, 1),
    }


def test_quality_on_generated_population() -> None:
    figures = _evaluate(1500)
    assert figures["precision"] >= 0.99, figures
    assert figures["recall_with_review"] >= 0.95, figures


def _patient(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "resourceType": "Patient",
        "name": [{"family": "Hernandez", "given": ["Maria"]}],
        "birthDate": "1984-03-07",
        "gender": "female",
    }
    base.update(kw)
    return base


def test_shared_strong_identifier_is_certain() -> None:
    dl = [{"system": "urn:tx-dl", "value": "12345678", "type": {"coding": [{"code": "DL"}]}}]
    a = features(_patient(identifier=dl))
    b = features(_patient(identifier=dl, name=[{"family": "Smith", "given": ["Jo"]}]))
    result = score(a, b)
    assert result.deterministic and result.total == 1.0


def test_same_name_different_birth_date_is_not_linked() -> None:
    s = score(features(_patient()), features(_patient(birthDate="1990-11-21"))).total
    assert s < Thresholds().review


def test_typo_and_nickname_still_match() -> None:
    a = features(_patient(name=[{"family": "Hernandez", "given": ["Elizabeth"]}]))
    b = features(_patient(name=[{"family": "Hernadez", "given": ["Liz"]}]))
    assert score(a, b).total >= Thresholds().link


def test_conflicting_strong_identifiers_block_a_link() -> None:
    one = [{"system": "urn:mrn", "value": "A1", "type": {"coding": [{"code": "MR"}]}}]
    two = [{"system": "urn:mrn", "value": "B2", "type": {"coding": [{"code": "MR"}]}}]
    assert (
        score(features(_patient(identifier=one)), features(_patient(identifier=two))).total
        < Thresholds().link
    )


def test_name_only_is_never_certain() -> None:
    a = features({"resourceType": "Patient", "name": [{"family": "Lee", "given": ["Ann"]}]})
    assert score(a, a).total < Thresholds().link
