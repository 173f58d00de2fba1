"""The project's metrics as evaluate modules, loaded by path as users do (offline): the same figures as the
project's functions, and as sklearn / nltk where the definitions are the standard ones."""

from pathlib import Path

import evaluate
import numpy as np
import pytest
from sklearn.metrics import (average_precision_score, f1_score, label_ranking_average_precision_score,
                             precision_recall_fscore_support, top_k_accuracy_score)
from sklearn.preprocessing import MultiLabelBinarizer

from clinsynth.brat.metrics import score_entities, score_relations
from clinsynth.brat.model import Document, Entity, Relation
from clinsynth.evaluation import icd
from clinsynth.retrieval import metrics as retrieval

METRICS = Path(__file__).resolve().parents[2] / "src" / "clinsynth" / "evaluation"


@pytest.fixture(scope="module")
def load():
    return lambda name: evaluate.load(str(METRICS / f"{name}.py"))


# ICD hit@k ---------------------------------------------------------------------------------------------

RANKINGS = [["A", "B", "C"], ["C", "A", "B"], ["B", "C", "A"], ["A", "C", "B"]]
GOLD = [["A"], ["A", "B"], ["C"], ["B"]]
PREDICTED = [["A"], ["C"], ["B", "C"], []]


def test_icd_hits_hand_computed_and_equal_to_the_project_function(load):
    out = load("icd_hits").compute(predictions=RANKINGS, references=GOLD, ks=[1, 2, 3], predicted=PREDICTED)
    # hit@1: A in {A}; C not in {A,B}; B not in {C}; A not in {B} -> 1/4. hit@2: +note 2 (A), +note 3 (C) -> 3/4
    assert (out["notes"], out["codes"], out["hit@1"], out["hit@2"], out["hit@3"]) == (4, 3, 0.25, 0.75, 1.0)
    # per gold code F1: A tp1 fn1 -> 2/3; B fp1 fn2 -> 0; C tp1 fp1 -> 2/3
    assert out["macro_f1"] == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)
    assert out == icd.evaluate(RANKINGS, [set(p) for p in PREDICTED], [set(g) for g in GOLD], ks=(1, 2, 3))


def test_icd_hits_without_thresholded_predictions_and_on_a_subset(load):
    module = load("icd_hits")
    assert "macro_f1" not in module.compute(predictions=RANKINGS, references=GOLD)
    out = module.compute(predictions=RANKINGS, references=GOLD, ks=[1, 3], subset=["B"])
    assert out == {"notes": 2, "codes": 1, "hit@1": 0.0, "hit@3": 1.0}  # notes 2 and 4, B ranked third in both
    expected = icd.evaluate(RANKINGS, [set()] * 4, GOLD, ks=(1, 3), subset={"B"})
    assert {k: expected[k] for k in out} == out


def test_icd_hit_at_k_equals_sklearn_top_k_accuracy_with_one_gold_code_per_note(load):
    codes = ["A", "B", "C", "D"]
    scores = np.array([[0.9, 0.05, 0.03, 0.02], [0.1, 0.2, 0.6, 0.1], [0.3, 0.4, 0.2, 0.1], [0.1, 0.15, 0.25, 0.5]])
    gold = ["B", "C", "D", "A"]
    rankings = [[codes[j] for j in np.argsort(-row)] for row in scores]
    out = load("icd_hits").compute(predictions=rankings, references=[[g] for g in gold], ks=[1, 2, 3])
    for k in (1, 2, 3):
        assert out[f"hit@{k}"] == pytest.approx(top_k_accuracy_score(gold, scores, k=k, labels=codes))


def test_icd_macro_f1_equals_sklearn_macro_f1_over_the_gold_codes(load):
    out = load("icd_hits").compute(predictions=RANKINGS, references=GOLD, predicted=PREDICTED)
    binarizer = MultiLabelBinarizer(classes=["A", "B", "C"]).fit([["A", "B", "C"]])
    expected = f1_score(binarizer.transform(GOLD), binarizer.transform(PREDICTED), average="macro", zero_division=0)
    assert out["macro_f1"] == pytest.approx(expected)


# BRAT NER + RE -----------------------------------------------------------------------------------------

def _row(entities, relations=()):
    return {"entities": [{"label": l, "start": s, "end": e} for l, s, e in entities],
            "relations": [{"label": l, "arg1": a, "arg2": b} for l, a, b in relations]}


GOLD_DOCS = [_row([("Drug", 0, 9), ("Dose", 10, 16), ("Drug", 30, 37)], [("Has_dose", 0, 1)]),
             _row([("Disorder", 4, 16)])]
PRED_DOCS = [_row([("Drug", 0, 9), ("Dose", 10, 14), ("Disorder", 30, 37)], [("Has_dose", 0, 1)]),
             _row([("Disorder", 0, 8), ("Drug", 20, 25)])]


def _documents(rows):
    return [Document(str(i), "", tuple(Entity(f"T{j + 1}", e["label"], ((e["start"], e["end"]),), "")
                                       for j, e in enumerate(row["entities"])),
                     tuple(Relation(f"R{j + 1}", r["label"], f"T{r['arg1'] + 1}", f"T{r['arg2'] + 1}")
                           for j, r in enumerate(row["relations"])))
            for i, row in enumerate(rows)]


def test_brat_prf_hand_computed_and_equal_to_the_project_functions(load):
    out = load("brat_prf").compute(predictions=PRED_DOCS, references=GOLD_DOCS)
    # strict: only Drug 0-9 matches -> tp 1, fp 4, fn 3
    assert (out["strict_tp"], out["strict_fp"], out["strict_fn"]) == (1, 4, 3)
    # lenient: + Dose 10-14 ~ 10-16, Disorder 0-8 ~ 4-16 -> tp 3 (Drug 30-37 vs Disorder: labels differ)
    assert (out["lenient_tp"], out["lenient_fp"], out["lenient_fn"]) == (3, 2, 1)
    assert out["lenient_precision"] == pytest.approx(3 / 5) and out["lenient_recall"] == pytest.approx(3 / 4)
    # relation: the Dose argument's span differs -> no match
    assert (out["relation_tp"], out["relation_fp"], out["relation_fn"]) == (0, 1, 1)
    gold, pred = _documents(GOLD_DOCS), _documents(PRED_DOCS)
    for kind, scores in (("strict", score_entities(gold, pred, "strict")), ("lenient", score_entities(gold, pred, "lenient")),
                         ("relation", score_relations(gold, pred))):
        assert {k: out[f"{kind}_{k}"] for k in ("tp", "fp", "fn", "precision", "recall", "f1")} == scores.micro.to_dict()
        assert out[f"{kind}_per_label"] == scores.to_dict()["per_label"]


TOKENS_GOLD = [["Drug", "O", "Dose", "Drug", "O", "Disorder"], ["O", "Disorder", "Disorder", "Dose"]]
TOKENS_PRED = [["Drug", "Dose", "Dose", "O", "O", "Disorder"], ["Drug", "Disorder", "Dose", "Dose"]]


def _token_rows(docs):
    """Each labelled token an entity of its own ([i, i + 1)): span scores reduce to label scores."""
    return [_row([(label, i, i + 1) for i, label in enumerate(doc) if label != "O"]) for doc in docs]


@pytest.mark.parametrize("mode", ["strict", "lenient"])
def test_brat_prf_equals_sklearn_when_spans_reduce_to_labels(load, mode):
    out = load("brat_prf").compute(predictions=_token_rows(TOKENS_PRED), references=_token_rows(TOKENS_GOLD))
    y_true = [t for doc in TOKENS_GOLD for t in doc]
    y_pred = [t for doc in TOKENS_PRED for t in doc]
    labels = sorted(set(y_true + y_pred) - {"O"})
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="micro", zero_division=0)
    assert (out[f"{mode}_precision"], out[f"{mode}_recall"], out[f"{mode}_f1"]) == pytest.approx((p, r, f))
    per_label = out[f"{mode}_per_label"]
    assert sorted(per_label) == labels
    macro = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    assert np.mean([per_label[label]["f1"] for label in labels]) == pytest.approx(macro)


def test_brat_prf_names_a_relation_pointing_nowhere(load):
    bad = [_row([("Drug", 0, 4)], [("Has_dose", 0, 3)])]
    with pytest.raises(ValueError, match=r"document 0: relation 0 .* points at entity 3; expected an index into its 1"):
        load("brat_prf").compute(predictions=bad, references=bad)


# Retrieval MRR / MAP -----------------------------------------------------------------------------------

CANDIDATES = ["a", "b", "c", "d", "e"]
RANKED = [["b", "a", "d", "c", "e"], ["e", "d", "c", "b", "a"], ["a", "b", "c", "d", "e"]]
RELEVANT = [["a", "c"], ["b"], ["a", "e"]]


def test_retrieval_hand_computed_and_equal_to_the_project_functions(load):
    out = load("retrieval_ranking").compute(predictions=RANKED, references=RELEVANT, ks=[1, 2])
    # RR: 1/2, 1/4, 1. AP: (1/2 + 2/4)/2 = 0.5; 1/4; (1 + 2/5)/2 = 0.7
    assert out["mrr"] == pytest.approx(round((0.5 + 0.25 + 1) / 3, 4))
    assert out["map"] == pytest.approx(round((0.5 + 0.25 + 0.7) / 3, 4))
    assert (out["queries"], out["recall@1"], out["recall@2"]) == (3, round(0.5 / 3, 4), round(1.0 / 3, 4))  # top 2: a; -; a
    expected = retrieval.summarize([retrieval.query_metrics(r, rel, (1, 2)) for r, rel in zip(RANKED, RELEVANT)])
    assert out == expected


def _label_matrix(ranked, relevant):
    """Rankings as scores over the shared candidates (rank 1 scores highest) and relevance as 0/1."""
    scores = np.array([[len(CANDIDATES) - r.index(c) for c in CANDIDATES] for r in ranked], dtype=float)
    truth = np.array([[c in rel for c in CANDIDATES] for rel in relevant], dtype=int)
    return truth, scores


def test_map_equals_sklearn_label_ranking_average_precision_and_average_precision(load):
    out = load("retrieval_ranking").compute(predictions=RANKED, references=RELEVANT)
    truth, scores = _label_matrix(RANKED, RELEVANT)
    # with full rankings and no ties, LRAP of a row is its average precision
    assert out["map"] == pytest.approx(label_ranking_average_precision_score(truth, scores), abs=5e-5)
    assert out["map"] == pytest.approx(np.mean([average_precision_score(t, s) for t, s in zip(truth, scores)]), abs=5e-5)


def test_mrr_equals_sklearn_lrap_with_one_relevant_id_per_query(load):
    relevant = [["c"], ["a"], ["b"]]
    out = load("retrieval_ranking").compute(predictions=RANKED, references=relevant)
    truth, scores = _label_matrix(RANKED, relevant)
    assert out["mrr"] == pytest.approx(label_ranking_average_precision_score(truth, scores), abs=5e-5)
    assert out["mrr"] == pytest.approx(round((1 / 4 + 1 / 5 + 1 / 2) / 3, 4))
