"""Per-step training history and resumable checkpoints, shared by the hand-written training loops.

History. A loop calls ``History.record(step, loss, learning_rate, **evals)`` once per optimizer step with
floats it has already computed (``loss.item()``, the learning rate the step used): recording adds no
forward pass and no random draw, so a loop's numerics are the same with or without it. ``plot_rows()``
gives the rows of a ``dvc plots`` file (``metrics/plots/<stage>[_<variant>].json``, a JSON list):
``{"step": 1, "loss": 0.6931, "learning_rate": 2e-05}`` (steps from 1; an eval metric, where a loop
evaluates, is one more key on the rows of the steps it evaluated at).

Checkpoints. ``Checkpointer(directory, every)`` saves, every ``every`` steps, the model's and optimizer's
and scheduler's state dicts, the torch RNG state, the state of the loop's own ``torch.Generator``\\ s, the
loop's extra state (the rest of a shuffled epoch's order...), the history and the step, to
``directory/state.pt`` (written to a temporary file, then renamed: a kill mid-write leaves the previous
checkpoint). On start, ``resume`` loads it when its ``fingerprint`` (the settings, the seed, a digest of
the data and of the freshly initialised model) matches, and discards it, saying so, when it does not;
``finish`` deletes it once the training has completed. A resumed run then takes exactly the steps the
killed one would have taken: the final weights are equal (``torch.equal``).

Trainer checkpoints. A ``transformers.Trainer`` saves its own ``checkpoint-N/`` folders (model, optimizer,
scheduler, RNG states, ``trainer_state.json`` with the log history) into ``Checkpointer.directory``;
``trainer_resume(fingerprint)`` returns the newest complete one when ``fingerprint.json`` beside them
matches (for ``trainer.train(resume_from_checkpoint=...)``), and otherwise clears the directory (warning
when it held another run's) and writes the fingerprint. ``finish`` deletes it as for the hand loops.

The directory must not be inside a DVC out: ``dvc repro`` deletes a stage's outs before running it, so
the stages keep checkpoints under ``base.paths.checkpoints/<stage>[_<variant>]/`` (git-ignored).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)
STATE = "state.pt"
FINGERPRINT = "fingerprint.json"  # beside a Trainer's checkpoint-N/ folders


class History:
    """Rows ``{"step", "loss", "learning_rate", **evals}``, one per optimizer step, in step order."""

    def __init__(self, rows: Iterable[dict[str, Any]] = ()) -> None:
        self.rows = [dict(r) for r in rows]

    def record(self, step: int, loss: float, learning_rate: float, **evals: float) -> None:
        self.rows.append({"step": step, "loss": loss, "learning_rate": learning_rate, **evals})

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def losses(self) -> list[float]:
        return [r["loss"] for r in self.rows]

    def loss_first(self) -> float:
        """Mean loss of the first 10% of steps (at least one)."""
        tenth = max(1, len(self.rows) // 10)
        return sum(self.losses[:tenth]) / tenth

    def loss_last(self) -> float:
        """Mean loss of the last 10% of steps (at least one)."""
        tenth = max(1, len(self.rows) // 10)
        return sum(self.losses[-tenth:]) / tenth

    def plot_rows(self, digits: int = 6) -> list[dict[str, Any]]:
        """The rows for a ``dvc plots`` file: floats rounded to ``digits`` significant digits (stable bytes)."""
        return [{k: float(f"{v:.{digits}g}") if isinstance(v, float) else v for k, v in r.items()} for r in self.rows]


def history_from_log(log_history: Sequence[dict[str, Any]]) -> History:
    """History rows from a Trainer's ``state.log_history`` (``logging_steps=1``: one ``loss`` entry a step,
    its ``learning_rate`` the one the step used); the end-of-training summary has no ``loss`` and is skipped."""
    return History({"step": r["step"], "loss": float(r["loss"]), "learning_rate": float(r["learning_rate"])}
                   for r in log_history if "loss" in r)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the optimizer's first parameter group (the one the next ``step()`` uses)."""
    return float(optimizer.param_groups[0]["lr"])


def fingerprint(*parts: Any) -> str:
    """sha256 over JSON of ``parts`` (dataclasses as dicts; anything else JSON cannot write as ``repr``)."""
    def default(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        return repr(value)

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=default).encode("utf-8")).hexdigest()


def state_digest(model: torch.nn.Module) -> str:
    """sha256 of a model's state dict (names, dtypes, shapes, values): which model, initialised how."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class Resumed:
    step: int  # optimizer steps already taken
    history: History
    state: dict[str, Any]  # the loop's extra state, as saved


class Checkpointer:
    """Saves and restores a training's state every ``every`` steps in ``directory`` (``every`` 0: never)."""

    def __init__(self, directory: Path | str | None, every: int) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.every = every if directory is not None else 0
        self.fingerprint = ""

    @property
    def path(self) -> Path | None:
        return self.directory / STATE if self.directory is not None else None

    def resume(self, fingerprint: str, model: torch.nn.Module, optimizer: Any, scheduler: Any = None,
               generators: Sequence[torch.Generator] = ()) -> Resumed | None:
        """Load the saved state into the given objects when it exists and matches ``fingerprint``; else None."""
        self.fingerprint = fingerprint
        if not self.every or not self.path.exists():
            return None
        saved = torch.load(self.path, weights_only=False)
        if saved.get("fingerprint") != fingerprint:
            log.warning("%s: checkpoint of another run (settings, seed, data or model changed); discarded",
                        self.path)
            self.finish()
            return None
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        for generator, state in zip(generators, saved["generators"], strict=True):
            generator.set_state(state)
        log.info("%s: resuming at step %d", self.path, saved["step"])
        return Resumed(saved["step"], History(saved["history"]), saved["state"])

    def step(self, step: int, total: int, model: torch.nn.Module, optimizer: Any, scheduler: Any,
             generators: Sequence[torch.Generator], history: History, state: dict[str, Any] | None = None) -> None:
        """After optimizer step ``step`` (from 1) of ``total``: save when due (never after the last step)."""
        if not self.every or step % self.every or step >= total:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save({"fingerprint": self.fingerprint, "step": step, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "torch_rng": torch.get_rng_state(), "generators": [g.get_state() for g in generators],
                    "history": history.rows, "state": state or {}}, tmp)
        os.replace(tmp, self.path)

    def trainer_resume(self, fingerprint: str) -> str | None:
        """For a ``transformers.Trainer`` whose ``output_dir`` is this directory: the newest complete
        ``checkpoint-N`` folder (its ``trainer_state.json``, written last, parses) when ``fingerprint.json``
        matches; else None, the directory cleared (a warning when it held another run's) and the fingerprint
        written. Incomplete folders (a kill mid-save) are deleted."""
        self.fingerprint = fingerprint
        if not self.every:
            return None
        marker = self.directory / FINGERPRINT
        if marker.exists() and json.loads(marker.read_text(encoding="utf-8")).get("fingerprint") == fingerprint:
            complete = []
            for folder in self.directory.glob("checkpoint-*"):
                if _trainer_state_step(folder) is None:
                    shutil.rmtree(folder)
                else:
                    complete.append((_trainer_state_step(folder), folder))
            if complete:
                step, folder = max(complete)
                log.info("%s: resuming at step %d", folder, step)
                return str(folder)
        elif self.directory.exists() and any(self.directory.iterdir()):
            log.warning("%s: checkpoint of another run (settings, seed, data or model changed); discarded",
                        self.directory)
        self.finish()
        self.directory.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")
        return None

    def finish(self) -> None:
        """Delete the checkpoint (the training completed, or it belonged to another run)."""
        if self.directory is not None and self.directory.exists():
            shutil.rmtree(self.directory)


def _trainer_state_step(folder: Path) -> int | None:
    """``global_step`` of a Trainer checkpoint folder, None when it is incomplete."""
    try:
        return int(json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))["global_step"])
    except (OSError, ValueError, KeyError):
        return None


NO_CHECKPOINT = Checkpointer(None, 0)
