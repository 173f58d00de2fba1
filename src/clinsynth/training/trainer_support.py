"""What the Hugging Face ``Trainer``-based trainings share: the per-step history callback and resumable checkpoints.

History. :class:`HistoryCallback` turns the trainer's per-step logs (``logging_steps=1``: the step's loss and the
learning rate that step used, as ``Trainer`` logs them) into :class:`~clinsynth.training.history.History` rows
``{step, loss, learning_rate}``; on resume it starts from the rows the checkpoint's ``trainer_state.json`` holds.

Checkpoints. :class:`TrainerCheckpoint` is a directory (``base.paths.checkpoints/<stage>[_<variant>]/``, never
inside a DVC out) the trainer saves into every ``every`` steps (``save_steps``, the last one kept) and resumes from
(``resume_from_checkpoint``). A ``fingerprint.json`` (settings, seed, data, freshly initialised model) names the run
the checkpoints belong to: a checkpoint of another run is discarded, saying so. ``finish`` deletes the directory once
the training has completed. A resumed run ends with the weights of an uninterrupted one (``torch.equal``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from clinsynth.training import precision
from clinsynth.training.history import Checkpointer, History


class HistoryCallback(TrainerCallback):
    """Collects ``{step, loss, learning_rate}`` rows from the trainer's logs (one log per step)."""

    def __init__(self) -> None:
        self.history = History()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # a resumed run: the rows of the steps before the checkpoint come from its trainer_state.json
        self.history = History()
        for row in state.log_history:
            self._record(row, row.get("step"))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None,
               **kwargs: Any) -> None:
        self._record(logs or {}, state.global_step)

    def _record(self, logs: dict[str, Any], step: int | None) -> None:
        if "loss" in logs and "learning_rate" in logs and step is not None:
            self.history.record(int(step), float(logs["loss"]), float(logs["learning_rate"]))


class TrainerCheckpoint(Checkpointer):
    """Checkpoints of one ``Trainer`` training in ``directory`` every ``every`` steps (``every`` 0 or no directory:
    none). The fingerprint check and the choice of the newest complete ``checkpoint-N`` are
    :meth:`Checkpointer.trainer_resume`'s, shared with the NER and retriever trainings."""

    def __init__(self, directory: Path | str | None = None, every: int = 0) -> None:
        super().__init__(directory, every)
        self._scratch: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.every)

    def output_dir(self) -> str:
        """The trainer's ``output_dir``: the checkpoint directory, or a scratch one when checkpoints are off."""
        if self.enabled:
            return str(self.directory)
        self._scratch = self._scratch or tempfile.mkdtemp(prefix="clinsynth-trainer-")
        return self._scratch

    def trainer_args(self) -> dict[str, Any]:
        """The checkpoint settings of a ``TrainingArguments``."""
        if not self.enabled:
            return {"output_dir": self.output_dir(), "save_strategy": "no"}
        return {"output_dir": self.output_dir(), "save_strategy": "steps", "save_steps": self.every,
                "save_total_limit": 1}

    def resume_from(self, fingerprint: str) -> str | None:
        """The checkpoint to resume when it belongs to this run (``fingerprint``); a stale one is deleted."""
        return self.trainer_resume(fingerprint)

    def finish(self) -> None:
        """Delete the checkpoints (the training completed) and any scratch directory."""
        super().finish()
        if self._scratch is not None and Path(self._scratch).exists():
            shutil.rmtree(self._scratch)
        self._scratch = None


def common_args(steps: int, batch_size: int, learning_rate: float, warmup_steps: int, weight_decay: float,
                max_grad_norm: float, bf16: bool, seed: int, progress: bool) -> dict[str, Any]:
    """``TrainingArguments`` both trainings share: CPU, seeded data order, a log per step, no reporting."""
    return {"max_steps": steps, "per_device_train_batch_size": batch_size, "learning_rate": learning_rate,
            "warmup_steps": warmup_steps, "weight_decay": weight_decay, "max_grad_norm": max_grad_norm,
            "lr_scheduler_type": "linear", "bf16": precision.use_bf16(bf16), "use_cpu": True, "seed": seed, "data_seed": seed,
            "logging_strategy": "steps", "logging_steps": 1, "report_to": "none", "disable_tqdm": not progress,
            "dataloader_num_workers": 0, "save_only_model": False}
