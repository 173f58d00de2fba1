"""Recipe ``retrieval_queries``: the LLM lists the diseases, procedures and drugs a note chunk mentions
or implies; each listed term becomes a (term, chunk) training pair for the retriever (stage II).

Sources are train-split chunk records (``data/interim/chunks.jsonl``); dev/test chunks never reach
the generator. Reply format asked for: one term per line. The parser is lenient about what small
models actually write and strict about what it keeps:

* accepted: plain lines, bullets (``-``, ``*``, ``•``), numbering (``1.``, ``2)``), category lines
  (``Diseases: a, b; c``), a JSON list of strings (optionally inside a ```json fence);
* dropped lines (counted in ``dropped_lines``): headers (``Drugs:``), sentences ("The patient ...",
  lines over ``MAX_WORDS`` words or ``MAX_CHARS`` characters), lines without a letter, repeats;
* rejected replies (a ``Rejection`` with reason): ``empty``, ``refusal``, ``malformed_json`` (starts
  like a JSON list but does not parse to a list of strings), ``no_entities`` (nothing survived).

Under a reply contract (``sample.retrieval_queries.contract: json``, :func:`build_contract`) the reply
is the JSON object ``{"diseases": [...], "procedures": [...], "drugs": [...]}`` of :data:`SCHEMA`; the
parser reads it (only for a prompt that carries the contract, so replies to prompts without one parse
exactly as before) and keeps its terms in that order, through the same term checks.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Literal

from clinsynth.generation.types import Contract
from clinsynth.records import Rejection
from clinsynth.params import NonNegativeInt
from clinsynth.recipes.chunk_sampling import build_vars, read_sources, select_sources, source_ids
from clinsynth.recipes.replies import screen_reply

__all__ = ["NAME", "SampleConfig", "build_contract", "build_vars", "parse_completion", "read_sources", "select_sources",
           "source_ids"]
NAME = "retrieval_queries"
MAX_ENTITIES = 20  # per reply; more is rambling
MAX_WORDS = 8
MAX_CHARS = 80
BULLET = re.compile(r"^\s*(?:[-*•·]+|\(?\d{1,2}[.)]|[a-z][.)](?=\s))\s*")
CATEGORY = re.compile(r"^\s*(?:the\s+)?(?:diseases?|conditions?|diagnos[ie]s|disorders?|problems?|procedures?|"
                      r"drugs?|medications?|medicines?|treatments?|entities|terms|symptoms?|findings?)"
                      r"(?:\s*(?:and|/|,)\s*\w+)*\s*:\s*(?P<rest>.*)$", re.IGNORECASE)
SENTENCE = re.compile(r"^(?:the|this|these|here|sure|note|based|in this|patient|i\b|it\b|there)\b", re.IGNORECASE)
FENCE = re.compile(r"^```(?:json)?\s*(?P<body>.*?)\s*```$", re.DOTALL)
CATEGORIES = ("diseases", "procedures", "drugs")
MAX_PER_CATEGORY = 4  # with TERM_CHARS: replies of ~100-560 characters; max_new_tokens 192 cut none of the demo's 32
TERM_CHARS = 40
# a term: starts with a letter, at most 4 words of name-like characters, at most TERM_CHARS characters
TERM_PATTERN = r"^[A-Za-z][A-Za-z0-9'/+-]*(?: [A-Za-z0-9'/+-]+){0,3}$"
SCHEMA = {
    "type": "object",
    "properties": {name: {"type": "array", "minItems": 1 if name == "diseases" else 0, "maxItems": MAX_PER_CATEGORY,
                          "items": {"type": "string", "minLength": 2, "maxLength": TERM_CHARS,
                                    "pattern": TERM_PATTERN}}
                   for name in CATEGORIES},
    "required": list(CATEGORIES),
    "additionalProperties": False,
    # llguidance's JSON options (other validators ignore x- keywords): one space after ',' and ':', no other
    # whitespace, so a reply cannot pad itself with blank lines until max_new_tokens
    "x-guidance": {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "},
}


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    """``params.yaml: sample.retrieval_queries``."""

    templates: list[str]  # e.g. retrieval_queries.entities.v1
    max_chunks: NonNegativeInt  # seeded sample of chunks; 0 = all
    split: str = "train"
    min_chars: NonNegativeInt = 200  # shorter chunks (headers, stubs) name nothing
    max_chars: NonNegativeInt = 0  # longer chunks skipped (0: none); keeps a short rewrite budget from truncating
    contract: Literal["none", "json"] = "none"  # json: decode under build_contract (the JSON object of SCHEMA)


def build_contract(record: dict[str, Any], cfg: SampleConfig | None = None) -> Contract:
    """The reply contract (``sample.retrieval_queries.contract: json``): :data:`SCHEMA` as a JSON-schema contract.

    At least one disease (every prompted chunk is a clinical text), up to :data:`MAX_PER_CATEGORY` terms per
    category, each a short name (:data:`TERM_PATTERN`); the same for every chunk.
    """
    return Contract("json_schema", json.dumps(SCHEMA, sort_keys=True, separators=(",", ":")))


def parse_completion(text: str, prompt: dict[str, Any]) -> dict[str, Any] | Rejection:
    """``{"entities": [term, ...], "dropped_lines": n}`` or a Rejection (see the module docstring)."""
    pid = prompt["id"]
    cleaned = screen_reply(text, pid)
    if isinstance(cleaned, Rejection):
        return cleaned
    fenced = FENCE.match(cleaned)
    if fenced:
        cleaned = fenced["body"].strip()
    if prompt.get("contract") is not None:
        items = _contract_items(cleaned, pid)
        if isinstance(items, Rejection):
            return items
        candidates = items
    elif cleaned.startswith("["):
        try:
            items = json.loads(cleaned)
        except json.JSONDecodeError as exc:
            return Rejection(pid, "malformed_json", f"reply starts with '[' but is not JSON ({exc.msg} at {exc.pos})")
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            return Rejection(pid, "malformed_json", f"expected a JSON list of strings, got {cleaned[:80]!r}")
        candidates = items
    else:
        candidates = _line_items(cleaned)
    entities, dropped, seen = [], 0, set()
    for item in candidates:
        term = _clean_term(item)
        if term is None or term.casefold() in seen:
            dropped += 1
            continue
        seen.add(term.casefold())
        entities.append(term)
    if not entities:
        return Rejection(pid, "no_entities", f"no usable term in {len(candidates)} line(s): {cleaned[:80]!r}")
    kept = entities[:MAX_ENTITIES]
    # text: the terms one per line, the record postprocess@retrieval_queries gates (postprocess.recipes...text)
    return {"entities": kept, "dropped_lines": dropped + max(0, len(entities) - MAX_ENTITIES), "text": "\n".join(kept)}


def _contract_items(text: str, pid: str) -> list[str] | Rejection:
    """The terms of a reply written under :func:`build_contract`, category by category."""
    try:
        reply = json.loads(text)
    except json.JSONDecodeError as exc:  # a reply cut at max_new_tokens
        return Rejection(pid, "malformed_json", f"contract reply is not JSON ({exc.msg} at {exc.pos}): {text[:80]!r}")
    if not isinstance(reply, dict) or not all(isinstance(reply.get(c, []), list) for c in CATEGORIES):
        return Rejection(pid, "malformed_json", f"expected an object of {list(CATEGORIES)} lists, got {text[:80]!r}")
    items = [item for c in CATEGORIES for item in reply.get(c, [])]
    if not all(isinstance(i, str) for i in items):
        return Rejection(pid, "malformed_json", f"expected lists of strings, got {text[:80]!r}")
    return items


def _line_items(text: str) -> list[str]:
    items = []
    for line in text.splitlines():
        line = BULLET.sub("", line).strip()
        if not line:
            continue
        category = CATEGORY.match(line)
        if category:  # "Drugs: a, b" -> a, b ; a bare header "Drugs:" -> nothing
            items += [part for part in re.split(r"[,;]", category["rest"]) if part.strip()]
        else:
            items.append(line)
    return items


def _clean_term(item: str) -> str | None:
    term = BULLET.sub("", item).strip().strip("\"'`").rstrip(".;,:").strip()
    if (not term or not any(c.isalpha() for c in term) or len(term) > MAX_CHARS
            or len(term.split()) > MAX_WORDS or SENTENCE.match(term) or term.endswith("?")):
        return None
    return term


CHECK = None  # the shared gates only: the parser already holds the reply to its contract
