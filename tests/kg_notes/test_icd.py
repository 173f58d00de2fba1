import numpy as np
import pytest
import torch

from clinsynth.evaluation import icd as ev
from clinsynth.training import icd

RANKINGS = [["A", "B", "C"], ["B", "A", "C"], ["C", "B", "A"]]
GOLD = [{"A"}, {"A"}, {"X"}]


@pytest.mark.parametrize("k, expected", [(1, 1 / 3), (2, 2 / 3), (3, 2 / 3)])
def test_hit_at_k_hand_computed(k, expected):
    assert ev.hit_at_k(RANKINGS, GOLD, k) == pytest.approx(expected)


def test_macro_f1_hand_computed():
    # A: tp 1, fp 0, fn 1 -> 2/3; X: never predicted -> 0; C (predicted, never gold) is not averaged
    assert ev.macro_f1([{"A"}, {"B"}, {"C"}], GOLD) == pytest.approx(1 / 3)
    assert ev.macro_f1([{"A"}, {"A"}, {"X"}], GOLD) == 1.0


def test_evaluate_on_a_subset_counts_only_its_notes_and_codes():
    out = ev.evaluate(RANKINGS, [{"A"}, {"B"}, {"C"}], [{"A", "X"}, {"A"}, {"X"}], ks=(1, 3), subset={"X"})
    assert out == {"notes": 2, "codes": 1, "hit@1": 0.0, "hit@3": 0.0, "macro_f1": 0.0}
    out = ev.evaluate(RANKINGS, [{"A"}, {"B"}, {"C"}], GOLD, ks=(1,))
    assert out == {"notes": 3, "codes": 2, "hit@1": pytest.approx(1 / 3), "macro_f1": pytest.approx(1 / 3)}


def test_rare_codes_include_unseen():
    assert ev.rare_codes({"A": 10, "B": 2}, GOLD + [{"B"}], 5) == {"X", "B"}


def test_errors_name_the_mismatch():
    with pytest.raises(ev.EvaluationError, match="2 rankings for 3 gold sets"):
        ev.hit_at_k(RANKINGS[:2], GOLD, 1)
    with pytest.raises(ev.EvaluationError, match="k = 0"):
        ev.hit_at_k(RANKINGS, GOLD, 0)


def test_scores_rankings_break_ties_by_code_and_always_predict_top1():
    scores = icd.Scores(("A", "B", "C"), np.array([[0.2, 0.2, 0.1], [0.9, 0.6, 0.7]]), 0.5)
    assert scores.rankings() == [["A", "B", "C"], ["A", "C", "B"]]
    assert scores.predicted() == [{"A"}, {"A", "B", "C"}]


def test_mask_removes_condition_lines(notes):
    patterns = [r"^# Chief Complaint\n(?:- .*\n?)*", r"Patient has a history of [^\n]*"]
    masked = icd.mask_text(notes[0]["text"], patterns)
    assert "alpha disease" not in masked and "amoxicillin" in masked and "fever and cough" in masked


def examples(notes, split):
    return icd.real_examples(notes, split, [r"^# Chief Complaint\n(?:- .*\n?)*"])


def test_real_and_synthetic_examples(notes):
    train = examples(notes, "train")
    assert [e.id for e in train] == ["n1", "n2", "n3", "n5"]  # n4 has no code
    assert train[2].codes == ("A01", "B01")
    syn = icd.synthetic_examples([{"id": "g2", "code": "Z99", "text": "x"}, {"id": "g1", "code": "A01", "text": "y"}], [])
    assert [(e.id, e.codes) for e in syn] == [("g1", ("A01",)), ("g2", ("Z99",))]
    assert icd.label_space(train + syn) == ("A01", "B01", "E01", "Z99")


def test_tfidf_learns_the_toy_task_and_synthetic_codes_enter_the_label_space(notes):
    train, test = examples(notes, "train"), examples(notes, "test")
    scores = icd.fit_tfidf(train, [e.text for e in test], icd.TfidfConfig(), seed=1)
    assert scores.labels == ("A01", "B01", "E01")
    assert [r[0] for r in scores.rankings()] == ["A01", "B01"]
    augmented = train + [icd.Example("s1", "Zeta status with weakness", ("Z99",))]
    assert icd.fit_tfidf(augmented, ["weakness"], icd.TfidfConfig(), seed=1).rankings()[0][0] == "Z99"


def test_linear_head_is_deterministic_and_fits():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 8)).astype(np.float32)
    y = (x[:, :2] > 0).astype(np.float32)
    h1 = icd.train_head(x, y, icd.HeadConfig(steps=200), seed=3, progress=False)
    h2 = icd.train_head(x, y, icd.HeadConfig(steps=200), seed=3, progress=False)
    assert np.array_equal(h1.weight, h2.weight) and np.array_equal(h1.bias, h2.bias) and h1.weight.shape == (8, 2)
    assert ((icd.head_scores(x, h1.weight, h1.bias) >= 0.5) == y.astype(bool)).mean() > 0.9


def test_embed_with_a_tiny_bert(notes):
    from transformers import BertConfig, BertModel

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "fever", "cough", "rash", "alpha", "beta"]
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    from transformers import PreTrainedTokenizerFast
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32))
    cfg = icd.EncoderConfig(max_length=16, batch_size=2, threads=1)
    x = icd.embed_texts(tokenizer, model, ["fever cough", "rash", "alpha beta fever"], cfg, progress=False)
    assert x.shape == (3, 16) and np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(x, icd.embed_texts(tokenizer, model, ["fever cough", "rash", "alpha beta fever"], cfg, progress=False))
