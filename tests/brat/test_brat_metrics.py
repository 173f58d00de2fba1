import pytest

from clinsynth.brat import PRF, Document, Entity, Event, Relation, score_entities, score_relations


def make_doc(entities, relations=(), doc_id="d"):
    """entities: [(label, spans)] get ids T1..; relations: [(label, arg1 index, arg2 index)]."""
    return Document(
        doc_id, "x" * 100,
        entities=tuple(Entity(f"T{i}", label, tuple(spans), "") for i, (label, spans) in enumerate(entities, 1)),
        relations=tuple(Relation(f"R{i}", label, f"T{a + 1}", f"T{b + 1}") for i, (label, a, b) in enumerate(relations, 1)),
    )


GOLD = [("Drug", [(0, 5)]), ("Drug", [(10, 15)]), ("Cond", [(20, 30)])]
PRED = [("Drug", [(0, 5)]), ("Drug", [(10, 14)]), ("Cond", [(20, 30)]), ("Cond", [(40, 45)])]


@pytest.mark.parametrize("gold, pred, mode, tp, fp, fn, p, r, f1", [
    (GOLD, PRED, "strict", 2, 2, 1, 0.5, 2 / 3, 4 / 7),
    (GOLD, PRED, "lenient", 3, 1, 0, 0.75, 1.0, 6 / 7),
    ([("Drug", [(0, 5)])], [("Cond", [(0, 5)])], "strict", 0, 1, 1, 0.0, 0.0, 0.0),
    ([("Drug", [(0, 5)])], [("Cond", [(0, 5)])], "lenient", 0, 1, 1, 0.0, 0.0, 0.0),
    ([("X", [(0, 3), (6, 9)])], [("X", [(0, 3)])], "strict", 0, 1, 1, 0.0, 0.0, 0.0),
    ([("X", [(0, 3), (6, 9)])], [("X", [(7, 8)])], "lenient", 1, 0, 0, 1.0, 1.0, 1.0),
    ([("X", [(0, 3), (6, 9)])], [("X", [(3, 6)])], "lenient", 0, 1, 1, 0.0, 0.0, 0.0),  # touching is not overlap
    ([("X", [(0, 10)])], [("X", [(0, 4)]), ("X", [(5, 10)])], "lenient", 1, 1, 0, 0.5, 1.0, 2 / 3),  # one-to-one
    ([("X", [(0, 4)]), ("X", [(0, 4)])], [("X", [(0, 4)])], "strict", 1, 0, 1, 1.0, 0.5, 2 / 3),  # duplicates count
    ([("X", [(0, 4)]), ("X", [(2, 8)])], [("X", [(2, 8)]), ("X", [(3, 5)])], "lenient", 2, 0, 0, 1.0, 1.0, 1.0),
    ([], [], "strict", 0, 0, 0, 0.0, 0.0, 0.0),
])
def test_entity_scores_on_hand_computed_cases(gold, pred, mode, tp, fp, fn, p, r, f1):
    micro = score_entities([make_doc(gold)], [make_doc(pred)], mode).micro
    assert (micro.tp, micro.fp, micro.fn) == (tp, fp, fn)
    assert (micro.precision, micro.recall, micro.f1) == pytest.approx((p, r, f1))


def test_per_label_scores_and_label_filter():
    scores = score_entities([make_doc(GOLD)], [make_doc(PRED)], "strict")
    assert scores.per_label == {"Cond": PRF(1, 1, 0), "Drug": PRF(1, 1, 1)}
    assert score_entities([make_doc(GOLD)], [make_doc(PRED)], labels={"Drug"}).micro == PRF(1, 1, 1)
    assert scores.to_dict()["micro"] == {"tp": 2, "fp": 2, "fn": 1, "precision": 0.5, "recall": pytest.approx(2 / 3), "f1": pytest.approx(4 / 7)}


def test_counts_add_up_over_documents():
    gold = [make_doc(GOLD, doc_id="a"), make_doc([("Drug", [(0, 5)])], doc_id="b")]
    pred = [make_doc([("Drug", [(0, 5)])], doc_id="b"), make_doc(PRED, doc_id="a")]
    assert score_entities(gold, pred).micro == PRF(3, 2, 1)


def test_documents_must_pair_by_id():
    with pytest.raises(ValueError, match=r"^gold and predicted documents differ: missing predictions \['a'\], "
                                         r"predictions without gold \['b'\]; expected the same document ids$"):
        score_entities([make_doc([], doc_id="a")], [make_doc([], doc_id="b")])


def test_mode_is_checked():
    with pytest.raises(ValueError, match=r"^mode='loose'; expected 'strict' or 'lenient'$"):
        score_entities([], [], "loose")


ENTS = [("Drug", [(0, 5)]), ("Cond", [(20, 30)]), ("Dose", [(6, 9)])]


@pytest.mark.parametrize("gold_rel, pred_ents, pred_rel, tp, fp, fn", [
    ([("Treats", 0, 1)], ENTS, [("Treats", 0, 1)], 1, 0, 0),
    ([("Treats", 0, 1)], list(reversed(ENTS)), [("Treats", 2, 1)], 1, 0, 0),  # other ids, same spans
    ([("Treats", 0, 1)], ENTS, [("Causes", 0, 1)], 0, 1, 1),                  # label differs
    ([("Treats", 0, 1)], ENTS, [("Treats", 1, 0)], 0, 1, 1),                  # arguments swapped
    ([("Treats", 0, 1)], [("Drug", [(0, 4)]), *ENTS[1:]], [("Treats", 0, 1)], 0, 1, 1),  # argument span differs
    ([("Treats", 0, 1), ("Dosage", 2, 0)], ENTS, [("Dosage", 2, 0)], 1, 0, 1),
    ([], ENTS, [("Treats", 0, 1)], 0, 1, 0),
])
def test_relation_scores_are_strict_on_label_and_argument_spans(gold_rel, pred_ents, pred_rel, tp, fp, fn):
    micro = score_relations([make_doc(ENTS, gold_rel)], [make_doc(pred_ents, pred_rel)]).micro
    assert (micro.tp, micro.fp, micro.fn) == (tp, fp, fn)


def test_relation_argument_that_is_an_event_scores_at_its_trigger():
    gold = make_doc(ENTS, [("Causes", 0, 1)])
    event = Event("E1", "Prescribe", "T1")
    gold = Document("d", gold.text, gold.entities, (Relation("R1", "Causes", "E1", "T2"),), (event,))
    pred = make_doc(ENTS, [("Causes", 0, 1)])
    assert score_relations([gold], [pred]).micro == PRF(1, 0, 0)
