"""A membership-inference audit: does the synthetic corpus reveal which real notes it was made from?

Design (see docs/quality.md for the reasoning):

* The attacker holds the synthetic corpus and a real note, and guesses whether the note was a *member*
  (a train note the corpus was made from) or a *non-member* (a held-out dev/test note from the same
  population, never shown to the generator).
* Each real note gets features from its TF-IDF cosine similarities to the synthetic records: the
  maximum and the mean of the ``top_k`` largest. A corpus that copies or closely paraphrases its sources
  makes members look closer than non-members.
* Equal seeded samples of members and non-members (at most ``max_notes`` each); a logistic regression on
  the standardised features, scored by stratified, seeded ``folds``-fold cross-validated ROC AUC.
  **0.5 is best** (the corpus tells nothing about membership); 1.0 means every member is identifiable.

The obvious alternative -- label each *synthetic* record by whether its nearest real note is in train and
predict that from its similarities to train and to held-out notes -- is degenerate: the label is a function
of the two features (``sim_train > sim_heldout``), so any classifier scores ~1.0 whatever the corpus.
Its useful part is kept as a descriptive figure: ``nearest_member_share``, the share of synthetic
records whose nearest note in the balanced sample is a member (0.5 for a corpus unrelated to either side).

Fewer than ``min_notes`` notes on either side: the audit is skipped (``auc`` is None, with a ``status``).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np

from clinsynth.params import PositiveInt, Range


@dataclasses.dataclass(frozen=True)
class MembershipConfig:
    max_notes: PositiveInt = 1000  # per side (members, non-members), seeded sample
    max_synthetic: PositiveInt = 5000  # synthetic records compared against, seeded sample
    folds: Annotated[int, Range(2)] = 5
    top_k: PositiveInt = 3
    min_notes: PositiveInt = 10  # per side; fewer skips the audit


def _sample(items: Sequence[str], k: int, rng: random.Random) -> list[str]:
    return [items[i] for i in sorted(rng.sample(range(len(items)), min(k, len(items))))]


def similarity_matrix(real: Sequence[str], synthetic: Sequence[str]) -> np.ndarray:
    """``[len(real), len(synthetic)]`` TF-IDF (word 1-2 grams, sublinear tf) cosine similarities."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(list(real) + list(synthetic))
    return (vectorizer.transform(real) @ vectorizer.transform(synthetic).T).toarray()  # rows l2-normed


def similarity_features(sims: np.ndarray, top_k: int) -> np.ndarray:
    """``[R, 2]``: max and top-k mean similarity of each real note (row of ``sims`` ``[R, S]``) to the corpus."""
    k = min(top_k, sims.shape[1])
    top = -np.sort(-sims, axis=1)[:, :k]  # [R, k]
    return np.stack([top[:, 0], top.mean(axis=1)], axis=1)


def nearest_member_share(sims: np.ndarray, labels: np.ndarray) -> float | None:
    """Share of synthetic records (columns of ``sims``) whose most similar real note is a member (label 1);
    records sharing no term with any note are left out (None when that is all of them)."""
    related = sims.max(axis=0) > 0
    if not related.any():
        return None
    return float(labels[sims[:, related].argmax(axis=0)].mean())


def membership_audit(synthetic: Sequence[str], members: Sequence[str], non_members: Sequence[str],
                     cfg: MembershipConfig, seed: int) -> dict[str, Any]:
    """Cross-validated ROC AUC of telling members from non-members by their closeness to ``synthetic``."""
    rng = random.Random(seed)
    n_side = min(len(members), len(non_members), cfg.max_notes)
    report: dict[str, Any] = {"auc": None, "auc_std": None, "nearest_member_share": None, "members": n_side,
                              "non_members": n_side, "synthetic": min(len(synthetic), cfg.max_synthetic)}
    if n_side < cfg.min_notes or not synthetic:
        return {**report, "status": f"skipped: {len(members)} members, {len(non_members)} non-members, "
                                    f"{len(synthetic)} synthetic records; needs >= {cfg.min_notes} per side"}
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    real = _sample(members, n_side, rng) + _sample(non_members, n_side, rng)
    labels = np.array([1] * n_side + [0] * n_side)
    sims = similarity_matrix(real, _sample(synthetic, cfg.max_synthetic, rng))  # [2 n_side, S]
    model = make_pipeline(StandardScaler(), LogisticRegression(random_state=seed))
    folds = StratifiedKFold(n_splits=min(cfg.folds, n_side), shuffle=True, random_state=seed)
    aucs = cross_val_score(model, similarity_features(sims, cfg.top_k), labels, cv=folds, scoring="roc_auc")
    return {**report, "auc": float(aucs.mean()), "auc_std": float(aucs.std()),
            "nearest_member_share": nearest_member_share(sims, labels), "status": "ok"}
