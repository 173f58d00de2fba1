import random

import pytest

from clinsynth.quality.membership import MembershipConfig, membership_audit
from tests.quality.conftest import prose

CFG = MembershipConfig(max_notes=150, max_synthetic=400, folds=5, top_k=3, min_notes=10)


def _population(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return [prose(rng, 80) for _ in range(n)]


@pytest.mark.parametrize("seed", range(2))
def test_corpus_unrelated_to_either_side_gives_about_half(seed):
    members, non_members = _population(seed, 150), _population(seed + 100, 150)
    synthetic = _population(seed + 200, 300)  # same population, made from neither side
    report = membership_audit(synthetic, members, non_members, CFG, seed=seed)
    assert report["status"] == "ok" and report["members"] == report["non_members"] == 150
    assert abs(report["auc"] - 0.5) < 0.1
    assert abs(report["nearest_member_share"] - 0.5) < 0.1


@pytest.mark.parametrize("share, min_auc", [(1.0, 0.95), (0.5, 0.65)])
def test_corpus_copying_train_notes_is_clearly_above_half(share, min_auc):
    rng = random.Random(7)
    members, non_members = _population(1, 150), _population(2, 150)
    # members copied with a fifth of their words edited, plus unrelated records
    copied = [" ".join(w if rng.random() > 0.2 else "edit" for w in m.split()) for m in members[: int(150 * share)]]
    report = membership_audit(copied + _population(3, 150), members, non_members, CFG, seed=7)
    assert report["auc"] > min_auc  # half copied: the copied half is found, the rest is chance -> ~0.75
    assert report["nearest_member_share"] > 0.6


def test_audit_is_seeded():
    members, non_members, synthetic = _population(1, 60), _population(2, 60), _population(3, 60)
    assert membership_audit(synthetic, members, non_members, CFG, 4) == membership_audit(synthetic, members, non_members, CFG, 4)


def test_too_few_notes_skips_the_audit():
    report = membership_audit(["a b"], ["x y"] * 5, ["z"] * 50, CFG, seed=1)
    assert report["auc"] is None
    assert report["status"] == "skipped: 5 members, 50 non-members, 1 synthetic records; needs >= 10 per side"
