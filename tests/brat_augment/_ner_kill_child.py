"""Child of test_ner_kill.py: one tiny NER training, checkpointed, in its own process (the test SIGKILLs it).

usage: _ner_kill_child.py MODEL_DIR WINDOWS_JSON CHECKPOINT_DIR|- OUT_DIR STEPS EVERY
MODEL_DIR holds a tiny BERT encoder and its tokenizer; WINDOWS_JSON a list of Window fields. Writes
OUT_DIR/state.pt (the final state dict) and OUT_DIR/history.json. NER_KILL_STEP_SLEEP (seconds, set only by
the test) slows each step so the parent can kill the run between checkpoints.
"""

import json
import os
import sys
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, TrainerCallback

from clinsynth.training import ner
from clinsynth.training.history import Checkpointer


class SleepEachStep(TrainerCallback):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(self.seconds)


def main(model_dir: str, windows_json: str, checkpoint_dir: str, out_dir: str, steps: str, every: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    windows = [ner.Window(w["doc_id"], w["start"], w["end"], w["text"], tuple(tuple(e) for e in w["entities"]))
               for w in json.loads(Path(windows_json).read_text(encoding="utf-8"))]
    labels = ner.bio_labels(["Condition", "Medication"])
    cfg = ner.NerConfig(window_chars=120, max_length=64, batch_size=4, max_steps=int(steps), learning_rate=5e-3,
                        warmup_ratio=0.1)
    sleep = float(os.environ.get("NER_KILL_STEP_SLEEP", "0"))
    checkpoint = Checkpointer(None if checkpoint_dir == "-" else checkpoint_dir, int(every))
    model, result = ner.train_ner(ner.token_classifier_factory(model_dir), tokenizer, windows, labels, cfg, seed=11,
                                  progress=False, checkpoint=checkpoint,
                                  callbacks=[SleepEachStep(sleep)] if sleep else [])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "state.pt")
    (out / "history.json").write_text(json.dumps(result.history.rows), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
