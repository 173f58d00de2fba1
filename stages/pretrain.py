"""Stage pretrain@rephrase-<corpus>: equal-token-budget decoder (from scratch) + encoder (continued MLM) on one corpus,
scored on the held-out real split. Writes models/rephrase/<corpus>/ (each model with a README.md model card),
metrics/rephrase/<corpus>.json."""

from __future__ import annotations

import time
from pathlib import Path

from clinsynth.params import load_base, load_params
from clinsynth.pretraining import corpora as rc
from clinsynth.records import read_jsonl, write_json
from clinsynth.training import lm
from clinsynth.training.pretrain import PretrainConfig, pretrain_corpus


def main(corpus_name: str) -> None:
    base = load_base()
    cfg = load_params("pretrain", PretrainConfig)
    lm.make_deterministic(cfg.threads)
    started = time.perf_counter()
    corpus = rc.read_corpus(Path(cfg.corpora_dir) / f"{corpus_name}.jsonl") if corpus_name != rc.NONE else []
    chunks = list(read_jsonl(base.paths.chunks))
    tokenizer = lm.load_tokenizer(cfg.tokenizer)
    run = pretrain_corpus(corpus, chunks, tokenizer, cfg, base.seed, started,
                          str(Path(base.paths.checkpoints) / f"pretrain_{corpus_name}"))
    cards = {"decoder": lm.model_card("decoder", corpus_name, run.decoder, run.metrics["decoder"], cfg.eval_split, True),
             "encoder": lm.model_card("encoder", corpus_name, run.encoder, run.metrics["encoder"], cfg.eval_split,
                                      run.encoder_vocab.vocab_map is not None)}
    lm.save_models(Path(cfg.models_dir) / corpus_name, run.decoder, run.vocab, tokenizer, run.encoder,
                   run.encoder_tokenizer, run.encoder_vocab, run.history, cards)
    write_json(Path(cfg.metrics_dir) / f"{corpus_name}.json", {"corpus": corpus_name, **run.metrics})
    timing = run.timing | {"total_s": time.perf_counter() - started}
    write_json(Path(base.paths.metrics) / "timing" / f"pretrain_{corpus_name}.json",
               {k: round(v, 2) for k, v in timing.items()} | {"cpu_s": round(time.process_time(), 2)})
    dec, enc = run.metrics["decoder"], run.metrics["encoder"]
    print(f"pretrain@{corpus_name}: {len(corpus)} texts, decoder ppl {dec['perplexity']} ({dec.get('steps', 0)} steps), "
          f"encoder MLM loss {enc['mlm_loss']} ({enc.get('steps', 0)} steps), {timing['total_s']:.1f} s")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
