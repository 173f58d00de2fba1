"""Find KG entities in text: a token n-gram dictionary matcher (Aho-Corasick-like, without the automaton).

Every KG name (node label and own synonyms) is tokenized once into a tuple of lower-case word
tokens. Two hash tables are built: ``names`` (token tuple -> node ids) and ``prefixes`` (every
proper prefix of every name). Matching a text of n tokens walks each start position forward while
the growing tuple is a known prefix, recording full names on the way, and stops at ``max_tokens``.
Because most tokens start no name, a text costs about n dict lookups, plus a few per real name
start: ~O(n) like Aho-Corasick, with two Python dicts instead of an automaton.

Which ids a name maps to: the nodes whose *label* it is; only when no node has it as a label, the
nodes having it as a synonym (the order ``KnowledgeGraph.find`` uses). This keeps MeSH entry terms
from dragging in unrelated descriptors when a proper label exists.

Noise control (``MatcherConfig``): names shorter than ``min_chars`` characters, pure numbers, and
names listed in ``stop_names`` (template words of the notes such as "disorder", "finding",
"procedure") are never indexed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from clinsynth.kg import KnowledgeGraph
from clinsynth.params import NonNegativeInt, PositiveInt

BOUNDARY = "|"
# A word (letters/digits), or a phrase boundary: line break, , ; : ( ) [ ], or a full stop before a space.
TOKEN = re.compile(r"[^\W_]+|\n|[,;:()\[\]]|\.(?=\s|$)")


def tokenize(text: str) -> tuple[str, ...]:
    """Lower-case word tokens, with ``"|"`` for each run of phrase boundaries between words.

    Names and texts go through the same function, so "Hypertension, essential" matches only text
    written that way, while "... (disorder)\n- bipolar ..." cannot match "disorder bipolar".
    Other punctuation ("-", "/", "+", a decimal point) just separates tokens.
    """
    tokens: list[str] = []
    for raw in TOKEN.findall(text.casefold()):
        if raw[0].isalnum():
            tokens.append(raw)
        elif tokens and tokens[-1] != BOUNDARY:
            tokens.append(BOUNDARY)
    if tokens and tokens[-1] == BOUNDARY:
        tokens.pop()
    return tuple(tokens)


@dataclasses.dataclass(frozen=True)
class MatcherConfig:
    max_tokens: PositiveInt = 8  # longest name (in tokens) looked for
    min_chars: NonNegativeInt = 4  # shorter names ("ra", "all", "ms") are not indexed: too ambiguous in running text
    stop_names: tuple[str, ...] = (
        "disorder", "finding", "procedure", "situation", "disease", "diseases", "syndrome", "patient",
        "history", "plan", "medication", "medications", "allergies", "review", "due", "care", "therapy",
        "regime", "person", "event", "tablet", "oral", "injection", "solution", "cream", "dose",
    )


@dataclasses.dataclass(frozen=True)
class Mention:
    start: int  # token offsets [start, end) into tokenize(text)
    end: int
    name: str  # the matched tokens joined by spaces
    nodes: tuple[str, ...]


class EntityMatcher:
    """KG names -> node ids, matched over token n-grams (see the module docstring)."""

    def __init__(self, names: dict[tuple[str, ...], tuple[str, ...]], max_tokens: int) -> None:
        self.names = names
        self.max_tokens = max_tokens
        self.prefixes = {name[:i] for name in names for i in range(1, len(name))}

    @classmethod
    def from_kg(cls, kg: KnowledgeGraph, cfg: MatcherConfig = MatcherConfig()) -> EntityMatcher:
        return cls.from_entries(_kg_entries(kg), cfg)

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str, bool]], cfg: MatcherConfig = MatcherConfig()) -> EntityMatcher:
        """Build from ``(node id, name, is_label)`` triples (tests hand these in directly)."""
        stop = {tokenize(s) for s in cfg.stop_names}
        by_label: dict[tuple[str, ...], set[str]] = {}
        by_synonym: dict[tuple[str, ...], set[str]] = {}
        for node, name, is_label in entries:
            tokens = tokenize(name)
            words = [t for t in tokens if t != BOUNDARY]
            if (not words or len(tokens) > cfg.max_tokens or len(" ".join(words)) < cfg.min_chars
                    or tokens in stop or all(t.isdigit() for t in words)):
                continue
            (by_label if is_label else by_synonym).setdefault(tokens, set()).add(node)
        names = {key: tuple(sorted(nodes)) for key, nodes in by_synonym.items()}
        names.update({key: tuple(sorted(nodes)) for key, nodes in by_label.items()})  # labels win
        return cls(names, cfg.max_tokens)

    def find_mentions(self, text: str | Sequence[str], overlapping: bool = False) -> list[Mention]:
        """Mentions in ``text`` (a string or its tokens), in text order.

        ``overlapping=False``: leftmost-longest, non-overlapping (the usual dictionary NER);
        ``True``: the longest name at *every* start position, so "acute bronchitis" yields both
        "acute bronchitis" and "bronchitis" (used for ground truth, where a nested name counts).
        """
        tokens = tokenize(text) if isinstance(text, str) else tuple(text)
        mentions: list[Mention] = []
        i, n = 0, len(tokens)
        while i < n:
            best = None
            for j in range(i + 1, min(n, i + self.max_tokens) + 1):
                key = tokens[i:j]
                if key in self.names:
                    best = j
                if key not in self.prefixes:
                    break
            if best is None:
                i += 1
                continue
            key = tokens[i:best]
            mentions.append(Mention(i, best, " ".join(key), self.names[key]))
            i = i + 1 if overlapping else best
        return mentions

    def find_nodes(self, text: str | Sequence[str], overlapping: bool = False) -> list[str]:
        """Node ids mentioned in ``text``, each once, in order of first mention."""
        seen: dict[str, None] = {}
        for mention in self.find_mentions(text, overlapping):
            for node in mention.nodes:
                seen.setdefault(node)
        return list(seen)


def _kg_entries(kg: KnowledgeGraph) -> Iterable[tuple[str, str, bool]]:
    for node, attrs in kg.graph.nodes(data=True):
        if attrs.get("type") == "Group":  # ICD-10-CM chapters/blocks: "Diseases of the ... (J00-J99)"
            continue
        if attrs.get("label"):
            yield node, attrs["label"], True
        for synonym in attrs.get("synonyms") or ():
            yield node, synonym, False


def contains_phrase(tokens: Sequence[str], phrase: Sequence[str]) -> bool:
    """Whether token sequence ``phrase`` occurs contiguously in ``tokens``."""
    if not phrase:
        return False
    hay = " " + " ".join(tokens) + " "
    return " " + " ".join(phrase) + " " in hay
