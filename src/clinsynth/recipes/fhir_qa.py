"""Recipe ``fhir_qa``: the LLM writes a question about one of a few of a train patient's FHIR resources and
answers it; the pairs train the relevance classifier and the LoRA answer model (docs/fhir_qa.md).

Sources are the flattened resources of ``base.paths.fhir_resources`` (stage ``fhir_ingest``); only
``split`` (train) patients are prompted, so dev/test records never reach the generator. Each prompt shows
a seeded subset of one patient's resources as ``R1..Rn`` (type-balanced: each draw picks a type, then a
resource of it; shown oldest first) and names a seeded ``target`` entry the question must be about.

Why a target: asked to pick the answering entries itself (``Question/Entry/Answer`` lines, or JSON), the
135M default generator wrote a bare question and stopped in 36 of 36 demo replies (no entry, no answer).
So the sampler picks the entry, the LLM writes the question and the answer, and the parser checks that the
answer is grounded in the cited entries. Reply format asked for::

    Question: What was the patient's last body weight?
    Answer: 78 kg on 2021-06-10.

Cited resources = the target + every ``R<n>`` the reply names (in an ``Entry:`` line or in the text).
Tolerated: bullets, ``**bold**`` labels, ``Q:``/``A:``, no labels at all (the question is the text up to the
first '?', the answer what follows it). Rejected with a counted reason (:data:`REJECTION_REASONS`):
``empty``, ``refusal``, ``no_question`` (no '?'), ``missing_answer``, ``answer_is_question`` (the answer ends
with '?' or opens like a question: "How did ..."), ``unknown_resource_id`` (an ``R<n>``
not in the prompt), ``answer_not_grounded`` (the answer shares no content word or number with the cited
entries), ``answer_value_changed`` (a number or date in the answer that no cited entry holds: "87 kg" for an
entry of 78 kg; "June 2021" passes against "2021-06-10", see :func:`changed_values`). Parsed fields:
``patient_id``, ``question``, ``answer``, ``refs``, ``resource_ids`` (FHIR ids).

Under a reply contract (``sample.fhir_qa.contract: json``, :func:`build_contract`) the reply is the JSON object
``{question, answer, resource_ids}`` with ``resource_ids`` among the prompt's refs; the parser reads it (only for
a prompt carrying the contract; ``malformed_json`` when cut short) and applies the same checks.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

from clinsynth.generation.types import Contract
from clinsynth.records import Rejection, read_jsonl
from clinsynth.params import ConfigError, NonNegativeInt, Paths, PositiveInt
from clinsynth.recipes.replies import screen_reply

NAME = "fhir_qa"
REJECTION_REASONS = ("empty", "refusal", "no_question", "missing_answer", "answer_is_question", "unknown_resource_id",
                     "answer_not_grounded", "answer_value_changed", "malformed_json")
LABEL = re.compile(r"^[\s>*#\-•]*\**\s*(?P<label>question|q|answers?|a|entry|entries|ref|resource)\s*\**\s*[:=]\s*\**\s*",
                   re.IGNORECASE | re.MULTILINE)
ANSWER_LABEL = re.compile(r"^[\s*]*(?:answers?|a)\s*\**\s*[:=]\s*\**\s*", re.IGNORECASE)
REF = re.compile(r"\bR(\d{1,3})\b")
WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
# The values clinsynth.quality.fidelity.VALUE counts; not imported, since that module pulls the KG into
# generate@fhir_qa's import closure (and so its dvc.yaml deps) for one regex.
VALUE = re.compile(r"\d+(?:[.,/:-]\d+)*")
VALUE_PART = re.compile(r"\d+")
STOPWORDS = frozenset("a an and any are as at be been by did do does for from had has have in is it its of on or "
                      "the their there this to was were what when which who with patient patients answer entry".split())


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    """``params.yaml: sample.fhir_qa``."""

    templates: list[str]  # e.g. fhir_qa.write.v1
    per_patient: PositiveInt  # prompts per patient
    max_prompts: NonNegativeInt  # seeded sample of all patients' prompts; 0 = all
    min_resources: PositiveInt = 3  # entries shown per prompt: k ~ U[min, max]
    max_resources: PositiveInt = 5
    split: str = "train"
    contract: Literal["none", "json"] = "none"  # json: decode under build_contract ({question, answer, resource_ids})
    types: list[str] = dataclasses.field(default_factory=lambda: [
        "Condition", "MedicationRequest", "Observation", "Procedure", "Immunization"])


def read_sources(paths: Paths) -> list[dict[str, Any]]:
    return list(read_jsonl(paths.fhir_resources))


def sample_resources(resources: Sequence[dict[str, Any]], k: int, types: Sequence[str],
                     rng: random.Random) -> list[dict[str, Any]]:
    """Up to ``k`` distinct resources: each draw picks a type present (uniformly), then one of its resources."""
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(resources, key=lambda r: r["id"]):
        if r["type"] in types:
            by_type[r["type"]].append(r)
    chosen: dict[str, dict[str, Any]] = {}
    while len(chosen) < k and by_type:
        kind = rng.choice(sorted(by_type))
        pick = by_type[kind].pop(rng.randrange(len(by_type[kind])))
        chosen[pick["id"]] = pick
        if not by_type[kind]:
            del by_type[kind]
    return sorted(chosen.values(), key=lambda r: (r["date"], r["id"]))


def select_sources(records: Sequence[dict[str, Any]], cfg: SampleConfig, seed: int) -> list[dict[str, Any]]:
    """Seeds ``{id: "<patient>:q<n>", patient_id, resources: [{ref, id, text}]}`` for ``cfg.split`` patients.

    Seeded per patient (adding a patient changes no other patient's seeds); ``max_prompts`` then keeps a
    seeded sample, sorted by id.
    """
    if not 1 <= cfg.min_resources <= cfg.max_resources:
        raise ConfigError(f"sample.fhir_qa: need 1 <= min_resources ({cfg.min_resources}) <= max_resources "
                         f"({cfg.max_resources})")
    patients: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r["split"] == cfg.split:
            patients[r["patient_id"]].append(r)
    seeds = []
    for patient_id in sorted(patients):
        rng = random.Random(f"{seed}:{patient_id}:fhir_qa")
        for n in range(cfg.per_patient):
            chosen = sample_resources(patients[patient_id], rng.randint(cfg.min_resources, cfg.max_resources),
                                      cfg.types, rng)
            if chosen:
                target = f"R{rng.randrange(len(chosen)) + 1}"
                seeds.append({"id": f"{patient_id}:q{n}", "patient_id": patient_id, "target": target,
                              "resources": [{"ref": f"R{i}", "id": r["id"], "text": r["text"]}
                                            for i, r in enumerate(chosen, start=1)]})
    if cfg.max_prompts and len(seeds) > cfg.max_prompts:
        seeds = sorted(random.Random(seed).sample(seeds, cfg.max_prompts), key=lambda s: s["id"])
    return seeds


def build_vars(record: dict[str, Any]) -> dict[str, Any]:
    return {"patient_id": record["patient_id"], "resources": record["resources"], "target": record["target"]}


def source_ids(record: dict[str, Any]) -> Sequence[str]:
    return (record["id"], *(r["id"] for r in record["resources"]))


def _content_words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS and (len(w) > 2 or w.isdigit())}


def _value_parts(text: str) -> set[int]:
    return {int(p) for p in VALUE_PART.findall(text)}


def changed_values(answer: str, cited_text: str) -> list[str]:
    """Values of the answer (numbers, doses, dates) that no single value of the cited entries holds: ``78``
    against an entry of ``87 kg`` is changed; ``2021`` and ``10/06/2021`` pass against ``2021-06-10`` (their
    parts are all parts of that one value), ``2021-07-10`` does not."""
    held = [_value_parts(m.group(0)) for m in VALUE.finditer(cited_text)]
    return [v for v in dict.fromkeys(m.group(0) for m in VALUE.finditer(answer))
            if not any(_value_parts(v) <= parts for parts in held)]


def _split_reply(text: str) -> tuple[str, str]:
    """(question, answer): label lines when present, else the text up to the first '?' and what follows."""
    body = text
    labelled: dict[str, str] = {}
    marks = list(LABEL.finditer(body))
    for i, m in enumerate(marks):
        kind = m["label"].lower()[0]  # q / a / e / r
        end = marks[i + 1].start() if i + 1 < len(marks) else len(body)
        labelled.setdefault("q" if kind == "q" else "a" if kind == "a" else "e", body[m.end():end].strip())
    if "q" in labelled:
        question, answer = labelled["q"], labelled.get("a", "")
        if "?" in question and not answer:  # "Question: X? Y" on one line
            question, _, answer = question.partition("?")
            question += "?"
        return question.split("\n")[0].strip(), ANSWER_LABEL.sub("", answer.strip())
    head, mark, tail = body.partition("?")
    if not mark:
        return body.strip(), ""
    return head.strip() + "?", ANSWER_LABEL.sub("", tail.strip())


ENTRY_CODE = re.compile(r"\((?:SNOMED|LOINC|RxNorm|CVX|ICD-?10(?:-CM)?)[^)]*\)", re.IGNORECASE)
ENTRY_WORDS = frozenset("authored performed onset reason active stopped completed final resolved inactive amended "
                        "preliminary entered-in-error".split())


def grounding_words(entry_text: str) -> list[str]:
    """The words of an entry an answer may be grounded in: its name, values and dates, not its resource type,
    code systems, codes or status (``Observation | Body Weight (LOINC 29463-7) | 2021-06-10 | 78 kg | final``
    -> body, weight, 2021-06-10, 78)."""
    fields = [ENTRY_CODE.sub(" ", f) for f in entry_text.split("|")[1:]]
    words = re.findall(r"[A-Za-z]+|\d+(?:[.:/-]\d+)*", " ".join(fields))
    keep = (w for w in words if w.lower() not in ENTRY_WORDS and w.lower() not in STOPWORDS
            and (len(w) > 2 or w.isdigit()))
    return sorted(dict.fromkeys(keep), key=lambda w: (-len(w), w))  # longest first: the regex tries them in order


def build_contract(record: dict[str, Any], cfg: SampleConfig | None = None) -> Contract:
    """The reply contract (``sample.fhir_qa.contract: json``): a JSON object ``{question, answer, resource_ids}``.

    ``question`` one line of 9-121 characters ending with '?', ``answer`` one line of at most 201 characters without
    a '?' holding one of
    the target entry's :func:`grounding_words` as a whole word, ``resource_ids`` 1 to n
    of the prompt's entry refs (``R1`` .. ``Rn``, an enum: a reply cannot cite an entry it was not shown).
    Whether the answer is grounded in the cited entries is still the parser's check.
    """
    refs = [r["ref"] for r in record["resources"]]
    line = "[^\"\\\\\\n\\x00-\\x1f]"  # one JSON string character, no escape, no newline
    target = next(r["text"] for r in record["resources"] if r["ref"] == record["target"])
    anchor = "|".join(re.escape(w) for w in grounding_words(target))
    # the answer holds one of the target entry's own words (its name, value or date) as a whole word (the
    # engine's regexes have no \b: the word stands between non-word characters or at an end)
    edge = "[^A-Za-z0-9\"\\\\\\n\\x00-\\x1f?]"
    # no '?' anywhere in the answer: the 135M model otherwise fills it with a second question
    said = "[^\"\\\\\\n\\x00-\\x1f?]"
    schema = {
        "type": "object",
        "properties": {
            # bounds sized so that the whole object fits the demo's 128 new tokens (a reply cut short is
            # malformed JSON): at 4 characters a token, 120 + 200 characters + the keys is ~95 tokens
            "question": {"type": "string", "pattern": f"^[A-Z]{line}{{8,120}}\\?$"},
            "answer": {"type": "string", "pattern": f"^({said}{{0,100}}{edge})?(?i:{anchor})({edge}{said}{{0,100}})?$"
                       if anchor else f"^{said}{{1,200}}$"},
            "resource_ids": {"type": "array", "items": {"enum": refs}, "minItems": 1, "maxItems": len(refs)},
        },
        "required": ["question", "answer", "resource_ids"],
        "additionalProperties": False,
        "x-guidance": {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "},
    }
    return Contract("json_schema", json.dumps(schema, separators=(",", ":")))


def _contract_reply(text: str, pid: str) -> tuple[str, str, list[str]] | Rejection:
    """(question, answer, cited refs) of a reply written under :func:`build_contract`."""
    try:
        reply = json.loads(text)
    except json.JSONDecodeError as exc:  # a reply cut at max_new_tokens
        return Rejection(pid, "malformed_json", f"contract reply is not JSON ({exc.msg} at {exc.pos}): {text[:80]!r}")
    if (not isinstance(reply, dict) or not isinstance(reply.get("question"), str)
            or not isinstance(reply.get("answer"), str) or not isinstance(reply.get("resource_ids"), list)):
        return Rejection(pid, "malformed_json", f"expected {{question, answer, resource_ids}}, got {text[:80]!r}")
    return reply["question"], reply["answer"], [str(r) for r in reply["resource_ids"]]


# An answer opening like a question is one: the 135M model writes a second question in the answer field ("How did
# the patient ..."). A wh-word, or an auxiliary before its subject ("Is the patient ..."); "Was 78 kg on ..." and
# "Had a fever ..." are answers.
QUESTION_START = re.compile(r"(?:how|what|why|when|where|which|who|whom|whose)\b|"
                            r"(?:is|are|was|were|does|do|did|can|could|should|would|will)\s+"
                            r"(?:the|this|that|these|those|there|he|she|they|it|his|her|their|patient)\b", re.IGNORECASE)


def parse_completion(text: str, prompt: dict[str, Any]) -> dict[str, Any] | Rejection:
    """``{patient_id, question, answer, refs, resource_ids}`` or a Rejection (see the module docstring)."""
    pid = prompt["id"]
    cleaned = screen_reply(text, pid)
    if isinstance(cleaned, Rejection):
        return cleaned
    if prompt.get("contract") is not None:  # a reply decoded under build_contract: the JSON object
        read = _contract_reply(cleaned, pid)
        if isinstance(read, Rejection):
            return read
        question, answer, named = read
    else:
        question, answer = _split_reply(cleaned)
        named = [f"R{int(n)}" for n in REF.findall(cleaned)]
    if "?" not in question:
        return Rejection(pid, "no_question", f"no '?' in {cleaned[:100]!r}")
    answer = answer.split("\n\n")[0].strip().strip("*\"'` ").strip()
    if not answer:
        return Rejection(pid, "missing_answer", f"a question without an answer: {cleaned[:100]!r}")
    if answer.endswith("?") or QUESTION_START.match(answer):
        return Rejection(pid, "answer_is_question", f"the answer {answer[:80]!r} is a question, not an answer")
    shown = {r["ref"]: r for r in prompt["vars"]["resources"]}
    named = list(dict.fromkeys(named))
    unknown = [r for r in named if r not in shown]
    if unknown:
        return Rejection(pid, "unknown_resource_id", f"cites {unknown[:3]} not among the prompt's {sorted(shown)}")
    refs = list(dict.fromkeys([prompt["vars"]["target"], *named]))
    cited = set().union(*(_content_words(shown[r]["text"]) for r in refs))
    if not _content_words(answer) & cited:
        return Rejection(pid, "answer_not_grounded", f"answer {answer[:80]!r} shares no word with {refs}")
    changed = changed_values(answer, "\n".join(shown[r]["text"] for r in refs))
    if changed:
        return Rejection(pid, "answer_value_changed", f"answer {answer[:80]!r} holds {changed[:3]}, which no cited "
                                                      f"entry of {refs} holds")
    question, answer = question.split("?")[0].strip() + "?", answer[:400]
    # text: question and answer, the record postprocess@fhir_qa gates (postprocess.recipes.fhir_qa.text)
    return {"patient_id": prompt["vars"]["patient_id"], "question": question, "answer": answer, "refs": refs,
            "resource_ids": [shown[r]["id"] for r in refs], "text": f"{question}\n{answer}"}


CHECK = None  # the shared gates only: the parser already holds the reply to its contract
