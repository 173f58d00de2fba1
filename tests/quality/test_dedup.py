import random

import pytest

from clinsynth.quality.dedup import DedupConfig, find_duplicates, jaccard, shingles
from tests.quality.conftest import prose


def test_shingles_and_jaccard_on_a_hand_computed_case():
    a, b = shingles("a b c d", 2), shingles("A b c e", 2)
    assert a == {"a b", "b c", "c d"} and b == {"a b", "b c", "c e"}
    assert jaccard(a, b) == pytest.approx(2 / 4)
    assert shingles("one", 3) == {"one"}


def _perturb(text: str, rng: random.Random, n_changes: int) -> str:
    tokens = text.split()
    for i in rng.sample(range(len(tokens)), n_changes):
        tokens[i] = f"changed{rng.randrange(10**6)}"
    return " ".join(tokens)


@pytest.mark.parametrize("seed", range(3))
def test_planted_near_duplicates_are_dropped_and_explained(seed):
    rng = random.Random(seed)
    originals = [(f"orig-{i:03d}", prose(rng, 150)) for i in range(60)]
    planted = {f"zdup-{i:03d}": (oid, _perturb(text, rng, 2)) for i, (oid, text) in enumerate(originals[:20])}
    items = originals + [(pid, text) for pid, (_, text) in planted.items()]
    dropped = find_duplicates(items, DedupConfig(shingle=3, num_perm=128, threshold=0.8), seed=seed)
    by_id = {d.id: d for d in dropped}
    assert set(by_id) == set(planted)  # every planted copy, and nothing else
    for pid, (oid, _) in planted.items():
        d = by_id[pid]
        assert (d.kind, d.duplicate_of) == ("near", oid)
        assert 0.8 <= d.jaccard_exact < 1.0 and abs(d.jaccard_estimated - d.jaccard_exact) < 0.15


def test_exact_duplicates_ignore_case_and_spacing_and_the_first_is_kept():
    items = [("a", "Fever and cough."), ("b", "fever  AND cough ."), ("c", "Knee pain after a fall.")]
    dropped = find_duplicates(items, DedupConfig(), seed=1)
    assert [(d.id, d.duplicate_of, d.kind, d.jaccard_exact) for d in dropped] == [("b", "a", "exact", 1.0)]


def test_duplicate_of_is_always_a_kept_record():
    base = prose(random.Random(5), 80)
    items = [("a", base), ("b", base + " extra"), ("c", base + " extra words")]
    dropped = find_duplicates(items, DedupConfig(threshold=0.8), seed=1)
    assert {d.duplicate_of for d in dropped} == {"a"}


def test_result_is_deterministic_for_a_seed():
    rng = random.Random(9)
    texts = [prose(rng, 60) for _ in range(30)]
    items = [(f"r{i}", t) for i, t in enumerate(texts)] + [(f"s{i}", _perturb(t, rng, 3)) for i, t in enumerate(texts[:10])]
    assert find_duplicates(items, DedupConfig(), seed=3) == find_duplicates(items, DedupConfig(), seed=3)


def test_threshold_out_of_range_is_rejected():
    with pytest.raises(ValueError, match=r"dedup threshold must be in \(0, 1\], got 1.5"):
        find_duplicates([], DedupConfig(threshold=1.5), seed=1)
