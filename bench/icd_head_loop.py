"""The ICD head's hand loop vs the same steps through transformers.Trainer, steps/s on one fixed input.

The head is a linear layer over embeddings computed once: a step is one [N, H] x [H, C] matmul, its backward
and an AdamW update, on the whole (in-memory) training set. Run:
    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/icd_head_loop.py [N] [steps]
"""

from __future__ import annotations

import sys
import tempfile
import time

import numpy as np
import torch

from clinsynth.training import icd


def trainer_steps(x: np.ndarray, y: np.ndarray, cfg: icd.HeadConfig, seed: int) -> float:
    """Seconds for ``cfg.steps`` full-batch AdamW steps of the same head through Trainer."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(x.shape[1], y.shape[1])

        def forward(self, features: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
            logits = self.linear(features)
            return {"loss": torch.nn.functional.binary_cross_entropy_with_logits(logits, labels), "logits": logits}

    torch.manual_seed(seed)
    data = Dataset.from_dict({"features": x.tolist(), "labels": y.tolist()}).with_format("torch")
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(out, per_device_train_batch_size=len(x), max_steps=cfg.steps,
                                 learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
                                 lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=0.0, report_to=[],
                                 save_strategy="no", logging_strategy="no", use_cpu=True, disable_tqdm=True,
                                 dataloader_num_workers=0, seed=seed)
        trainer = Trainer(Head(), args, train_dataset=data)
        started = time.perf_counter()
        trainer.train()
        return time.perf_counter() - started


def main(n: int = 600, steps: int = 300) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = (rng.random((n, 20)) < 0.1).astype(np.float32)
    cfg = icd.HeadConfig(steps=steps)
    started = time.perf_counter()
    icd.train_head(x, y, cfg, seed=0)
    hand = time.perf_counter() - started
    through_trainer = trainer_steps(x, y, cfg, seed=0)
    print(f"icd head, N={n} H=384 C=20, {steps} full-batch steps, {torch.get_num_threads()} thread(s): "
          f"hand loop {steps / hand:.0f} steps/s ({hand:.2f} s), Trainer {steps / through_trainer:.0f} steps/s "
          f"({through_trainer:.2f} s): {through_trainer / hand:.1f}x slower")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
