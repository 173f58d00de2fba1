"""The ICD head's per-step history, resumable checkpoints and the top-1 confusion rows."""

import numpy as np
import pytest

from clinsynth.errors import InputError
from clinsynth.training import icd
from clinsynth.training.history import Checkpointer

CFG = icd.HeadConfig(steps=12, learning_rate=0.05)


class Killed(Exception):
    pass


class KillAfter(Checkpointer):
    """A checkpointer whose process 'dies' right after optimizer step ``kill_at``."""

    def __init__(self, directory, every, kill_at):
        super().__init__(directory, every)
        self.kill_at = kill_at

    def step(self, step, *args, **kwargs):
        super().step(step, *args, **kwargs)
        if step == self.kill_at:
            raise Killed(step)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 8)).astype(np.float32)
    return x, (x[:, :3] > 0).astype(np.float32)


def test_history_has_one_row_per_step_and_the_loss_falls(data):
    head = icd.train_head(*data, CFG, seed=5, progress=False)
    rows = head.history.rows
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert {tuple(sorted(r)) for r in rows} == {("learning_rate", "loss", "step")}
    assert all(r["learning_rate"] == 0.05 for r in rows)
    assert rows[-1]["loss"] < rows[0]["loss"]
    # the first row is the initial head's loss (recorded before the update): ln 2-ish for a small init
    assert 0.4 < rows[0]["loss"] < 1.2


def test_same_seed_same_head_other_seed_another(data):
    a, b = (icd.train_head(*data, CFG, seed=5, progress=False) for _ in range(2))
    c = icd.train_head(*data, CFG, seed=6, progress=False)
    assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
    assert a.history.rows == b.history.rows
    assert not np.array_equal(a.weight, c.weight)


def test_a_killed_head_training_resumes_to_the_same_weights(tmp_path, data):
    full = icd.train_head(*data, CFG, seed=5, progress=False)
    with pytest.raises(Killed):
        icd.train_head(*data, CFG, seed=5, progress=False, checkpoint=KillAfter(tmp_path / "ckpt", every=4, kill_at=6))
    assert (tmp_path / "ckpt" / "state.pt").exists()  # the step-4 state; steps 5-6 are lost with the process
    resumed = icd.train_head(*data, CFG, seed=5, progress=False, checkpoint=Checkpointer(tmp_path / "ckpt", every=4))
    assert not (tmp_path / "ckpt").exists()  # deleted once the training completed
    assert np.array_equal(full.weight, resumed.weight) and np.array_equal(full.bias, resumed.bias)
    assert resumed.history.rows == full.history.rows


def test_a_checkpoint_of_other_data_is_discarded(tmp_path, data, caplog):
    x, y = data
    with pytest.raises(Killed):
        icd.train_head(x, y, CFG, seed=5, progress=False, checkpoint=KillAfter(tmp_path / "ckpt", every=4, kill_at=5))
    fresh = icd.train_head(x[:-1], y[:-1], CFG, seed=5, progress=False)
    other = icd.train_head(x[:-1], y[:-1], CFG, seed=5, progress=False, checkpoint=Checkpointer(tmp_path / "ckpt", every=4))
    assert "checkpoint of another run" in caplog.text
    assert np.array_equal(fresh.weight, other.weight)


def test_confusion_rows_keep_single_code_notes_and_count_the_others():
    test = [icd.Example("n1", "", ("A01",)), icd.Example("n2", "", ("A01", "B02")), icd.Example("n3", "", ("B02",)),
            icd.Example("n4", "", ("C03",)), icd.Example("n5", "", ("A01", "B02", "C03"))]
    rankings = [["A01", "B02"], ["B02", "A01"], ["A01", "B02"], [], ["C03"]]
    confusion = icd.confusion_rows(test, rankings)
    assert confusion.rows == [{"actual": "A01", "predicted": "A01"}, {"actual": "B02", "predicted": "A01"},
                              {"actual": "C03", "predicted": icd.NO_CODE}]
    assert confusion.skipped_multi_code == 2
    with pytest.raises(InputError, match="5 test notes but 4 rankings"):
        icd.confusion_rows(test, rankings[:4])


def tiny_encoder():
    """A 1-layer BERT (hidden 16) and a word-level tokenizer, built offline."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "zeta", "status", "weakness"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    torch.manual_seed(0)
    return (PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]"),
            BertModel(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32)))


def test_train_and_score_gives_each_arm_a_history_and_confusion(tmp_path):
    rng = np.random.default_rng(1)
    train = [icd.Example(f"t{i}", "", (("A01", "B02")[i % 2],)) for i in range(8)]
    test = [icd.Example("s1", "", ("A01",)), icd.Example("s2", "", ("A01", "B02"))]
    synthetic = [icd.Example("g1", "zeta status with weakness", ("Z99",))]
    embeddings = {"train": rng.normal(size=(8, 16)).astype(np.float32), "test": rng.normal(size=(2, 16)).astype(np.float32),
                  "train_ids": np.array([e.id for e in train]), "test_ids": np.array(["s1", "s2"])}
    cfg = icd.TrainIcdConfig(encoder="", embeddings="x.npz", corpora_dir="", out_dir="", models=["minilm"], mask=False,
                             mask_patterns=[], rare_max_train_notes=1, ks=[1],
                             encoding=icd.EncoderConfig(max_length=16, batch_size=2, threads=1),
                             head=icd.HeadConfig(steps=5), tfidf=icd.TfidfConfig(), checkpoint_every=2)
    run = icd.train_and_score(train, test, synthetic, embeddings, cfg, 3, tiny_encoder,
                              lambda arm: Checkpointer(tmp_path / arm, cfg.checkpoint_every))
    assert set(run.histories) == set(run.confusions) == {"baseline", "augmented"}
    assert [r["step"] for r in run.histories["augmented"].rows] == [1, 2, 3, 4, 5]
    assert run.histories["baseline"].rows != run.histories["augmented"].rows  # 3 labels vs 2, one more note
    assert [r["actual"] for r in run.confusions["baseline"].rows] == ["A01"]
    assert run.confusions["baseline"].rows[0]["predicted"] in {"A01", "B02"}
    assert run.confusions["augmented"].skipped_multi_code == 1
    assert not any(tmp_path.iterdir())  # checkpoints deleted once each head completed


def test_confusion_model_must_be_trained():
    with pytest.raises(InputError, match="confusion_model: 'minilm' is not in"):
        icd.TrainIcdConfig(encoder="", embeddings="", corpora_dir="", out_dir="", models=["tfidf"], mask=False,
                           mask_patterns=[], rare_max_train_notes=0, ks=[1], encoding=icd.EncoderConfig(),
                           head=icd.HeadConfig(), tfidf=icd.TfidfConfig())
