"""Task 1 as generation: a causal LM asked "is this resource relevant?", read as P(yes) from its logits.

The ``sequential`` training mode of FHIR QA tunes ONE LoRA adapter of the generator first on relevance, then
on answers, so relevance must be a generation task. :func:`relevance_messages` renders the relevance
template (:class:`RelevanceLmConfig` ``template``, e.g. ``fhir_qa.relevance.v1``, through
:func:`clinsynth.prompting.render_messages`; variables ``question`` and ``resource``, one flattened line); the
training target is the reply :data:`YES` or :data:`NO` (:func:`relevance_lora_pairs`, pairs for
:func:`clinsynth.training.lora.train_lora`).

:func:`score_relevance` reads P(yes) = softmax over the logits of the first reply token restricted to the first
tokens of "yes" and "no" (SmolLM2: ids 10407 and 4607, one token each; no leading space, since the reply
starts right after the chat template's ``assistant`` line, as :func:`~clinsynth.training.lora.encode_pair`
tokenizes the reply). Prompts are cut from the left to ``max_length`` tokens exactly as in training, sorted
by length into left-padded batches (position ids from the mask, so a score does not depend on its batch),
and returned in input order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from tqdm import tqdm

from clinsynth.errors import InputError
from clinsynth.fhir.relevance import Pair as RelevancePair
from clinsynth.generation.types import Message
from clinsynth.params import PositiveInt
from clinsynth.prompting import Template, render_messages

YES, NO = "yes", "no"


class RelevanceLmError(InputError):
    """A tokenizer whose "yes" and "no" replies start with the same token, or without a chat template."""


@dataclasses.dataclass(frozen=True)
class RelevanceLmConfig:
    """Relevance as generation (params ``fhir.relevance_lm``): the sequential training and its evaluation."""

    template: str  # versioned name of the relevance prompt, "fhir_qa.relevance.v1"
    max_length: PositiveInt  # prompt tokens kept (from the right), in training (phase 1) and scoring alike


def relevance_messages(question: str, resource: str, template: Template) -> tuple[Message, ...]:
    """The chat a causal LM sees for one (question, flattened resource) pair."""
    return render_messages(template, {"question": question, "resource": resource})


def relevance_lora_pairs(pairs: Sequence[RelevancePair], template: Template) -> list[Any]:
    """LoRA pairs (:class:`clinsynth.training.lora.Pair`): the relevance prompt -> "yes" (label 1) or "no"."""
    from clinsynth.training.lora import Pair

    return [Pair([{"role": m.role, "content": m.content} for m in relevance_messages(p.question, p.text, template)],
                 YES if p.label else NO) for p in pairs]


def answer_token_ids(tokenizer: Any) -> tuple[int, int]:
    """``(yes_id, no_id)``: the first token of each reply word, as the reply is tokenized in training."""
    yes = tokenizer(YES, add_special_tokens=False)["input_ids"]
    no = tokenizer(NO, add_special_tokens=False)["input_ids"]
    if not yes or not no or yes[0] == no[0]:
        raise RelevanceLmError(f"the tokenizer starts {YES!r} with {yes[:1]} and {NO!r} with {no[:1]}; "
                               "P(yes) needs two different first tokens")
    return yes[0], no[0]


def encode_prompts(tokenizer: Any, examples: Sequence[tuple[str, str]], template: Template,
                   max_length: int) -> list[list[int]]:
    """Token ids of each (question, resource) prompt with the generation prompt, cut from the left to ``max_length``."""
    if not getattr(tokenizer, "chat_template", None):
        raise RelevanceLmError("the tokenizer has no chat template; the relevance prompt is a chat")
    out = []
    for question, resource in examples:
        messages = [{"role": m.role, "content": m.content} for m in relevance_messages(question, resource, template)]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        out.append(tokenizer(text, add_special_tokens=False)["input_ids"][-max_length:])
    return out


@torch.inference_mode()
def score_relevance(model: torch.nn.Module, tokenizer: Any, examples: Sequence[tuple[str, str]], template: Template,
                    max_length: int, batch_size: int = 32, progress: bool = True) -> list[float]:
    """P(yes) for each (question, flattened resource), in input order (see the module docstring)."""
    yes_id, no_id = answer_token_ids(tokenizer)
    encoded = encode_prompts(tokenizer, examples, template, max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), i))
    scores = [0.0] * len(encoded)
    model.eval()
    for start in tqdm(range(0, len(order), batch_size), desc="score relevance (LM)", unit="batch", disable=not progress):
        rows = order[start:start + batch_size]
        width = max(len(encoded[i]) for i in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, i in enumerate(rows):  # left padding: the last position is every row's next token
            ids[j, width - len(encoded[i]):], mask[j, width - len(encoded[i]):] = torch.tensor(encoded[i]), 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        # logits_to_keep=1: the output layer (a fifth of SmolLM2's compute) only at the last position
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1).logits[:, -1]  # [B, V]
        p_yes = torch.softmax(logits[:, [yes_id, no_id]].float(), dim=-1)[:, 0]  # [B]
        for j, i in enumerate(rows):
            scores[i] = p_yes[j].item()
    return scores
