"""METEOR and ROUGE-L evaluate modules, loaded by path as users do (offline)."""

import evaluate
import pytest

from clinsynth.evaluation.meteor import LEXNAMES, ensure_wordnet

from .conftest import ROOT

METRICS = ROOT / "src" / "clinsynth" / "evaluation"


@pytest.fixture(scope="module")
def meteor():
    return evaluate.load(str(METRICS / "meteor.py"))


def test_meteor_documented_example(meteor):
    """evaluate's documented METEOR example scores 0.6944."""
    result = meteor.compute(
        predictions=["It is a guide to action which ensures that the military always obeys the commands of the party"],
        references=["It is a guide to action that ensures that the military will forever heed Party commands"])
    assert round(result["meteor"], 4) == 0.6944


def test_meteor_identity_and_disjoint(meteor):
    assert meteor.compute(predictions=["the last body weight was 78 kg"],
                          references=["the last body weight was 78 kg"])["meteor"] > 0.99
    assert meteor.compute(predictions=["zebra"], references=["lisinopril tablet"])["meteor"] == 0.0


@pytest.mark.parametrize("predictions, references, expected", [
    (["the cat sat on the mat"], ["the cat was on the mat"], 5 / 6),  # LCS 5 of 6 tokens both ways
    (["hello there"], ["hello"], 2 / 3),  # P 1/2, R 1 -> F 2/3
    (["the cat sat on the mat", "hello there"], ["the cat was on the mat", "hello"], 0.75),  # mean
    (["completely different"], ["nothing shared"], 0.0),
])
def test_rouge_l(predictions, references, expected):
    rouge = evaluate.load(str(METRICS / "rouge.py"))
    assert rouge.compute(predictions=predictions, references=references)["rougeL"] == pytest.approx(expected)


def test_wordnet_setup_writes_lexnames(tmp_path):
    source = tmp_path / "debian"
    source.mkdir()
    from clinsynth.evaluation import meteor as module

    for name in module.WORDNET_FILES:
        (source / name).write_text("x\n", encoding="utf-8")
    target = ensure_wordnet(tmp_path / "nltk_data", source)
    lexnames = (target / "corpora" / "wordnet" / "lexnames").read_text(encoding="utf-8").splitlines()
    assert len(LEXNAMES) == 45 and len(lexnames) == 45
    assert lexnames[0] == "00\tadj.all\t3" and lexnames[3] == "03\tnoun.Tops\t1"
    assert lexnames[29] == "29\tverb.body\t2" and lexnames[44] == "44\tadj.ppl\t3"


def test_wordnet_missing_source_says_what_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="wordnet-base and wordnet-sense-index"):
        ensure_wordnet(tmp_path / "nltk_data", tmp_path / "nowhere")
