"""A real kill: a subprocess trains a tiny NER model with Trainer checkpoints, is SIGKILLed once a checkpoint
exists, is rerun to completion, and ends with the weights and history of an uninterrupted run."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from clinsynth.training import ner

CHILD = Path(__file__).with_name("_ner_kill_child.py")
SRC = Path(__file__).resolve().parents[2] / "src"
STEPS, EVERY = 16, 3


def run_child(args, sleep: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "NER_KILL_STEP_SLEEP": str(sleep)}
    return subprocess.Popen([sys.executable, str(CHILD), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> None:
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output


@pytest.mark.slow
def test_a_sigkilled_training_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, silver, sentences, tokenizer):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model_dir = tmp_path / "tiny"
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=256)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    windows = [dataclasses.asdict(w) for d in silver.documents["train"] for w in ner.make_windows(d, sentences(d.text), 120)]
    (tmp_path / "windows.json").write_text(json.dumps(windows), encoding="utf-8")
    common = (model_dir, tmp_path / "windows.json")

    finish(run_child((*common, "-", tmp_path / "reference", STEPS, 0)))
    ckpt = tmp_path / "ckpt"
    killed = run_child((*common, ckpt, tmp_path / "killed", STEPS, EVERY), sleep=0.4)
    deadline = time.monotonic() + 240
    while not any((p / "trainer_state.json").exists() for p in ckpt.glob("checkpoint-*")):
        assert killed.poll() is None, killed.communicate()[0]
        assert time.monotonic() < deadline, "no checkpoint within 240 s"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL and not (tmp_path / "killed").exists()
    saved = sorted(p.name for p in ckpt.glob("checkpoint-*"))
    assert saved and saved != [f"checkpoint-{STEPS}"]

    finish(run_child((*common, ckpt, tmp_path / "resumed", STEPS, EVERY)))
    assert not ckpt.exists()  # deleted once the training completed
    reference = torch.load(tmp_path / "reference" / "state.pt")
    resumed = torch.load(tmp_path / "resumed" / "state.pt")
    assert reference.keys() == resumed.keys()
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)
    history = json.loads((tmp_path / "resumed" / "history.json").read_text(encoding="utf-8"))
    assert [r["step"] for r in history] == list(range(1, STEPS + 1))
    assert history == json.loads((tmp_path / "reference" / "history.json").read_text(encoding="utf-8"))
