"""BRAT standoff records: frozen dataclasses with to/from dict for JSONL.

Offsets everywhere are ``[start, end)`` Python ``str`` indices into the document's ``.txt`` as read
with ``newline=''`` (so a CRLF counts two characters and a non-ASCII character counts one), exactly
as the brat tool counts them.

An id's first character gives its kind, as in brat: ``T`` text-bound entity, ``R`` relation,
``E`` event, ``A``/``M`` attribute (``M`` is brat's legacy "modifier" prefix), ``N`` normalization,
``#`` note, ``*`` equivalence (every equivalence line has the id ``*``).

``tail`` fields keep what follows the fields brat defines on a line (brat writes new relations and
events with a trailing tab), so that writing what was read gives the file back byte for byte.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Union

Span = tuple[int, int]

DISCONTINUOUS_SEP = " "  # brat joins the text of discontinuous fragments with one space


@dataclasses.dataclass(frozen=True)
class Entity:
    """``T1\\tDrug 10 15;20 27\\tmetfo rmin``: ``spans`` sorted as written; ``text`` is the .ann text field."""

    id: str
    label: str
    spans: tuple[Span, ...]
    text: str

    @property
    def start(self) -> int:
        return min(s for s, _ in self.spans)

    @property
    def end(self) -> int:
        return max(e for _, e in self.spans)

    @property
    def is_discontinuous(self) -> bool:
        return len(self.spans) > 1


@dataclasses.dataclass(frozen=True)
class Relation:
    """``R1\\tTreats Arg1:T1 Arg2:T2``; the role names are kept (brat configs may rename them)."""

    id: str
    label: str
    arg1: str
    arg2: str
    arg1_role: str = "Arg1"
    arg2_role: str = "Arg2"
    tail: str = ""


@dataclasses.dataclass(frozen=True)
class Event:
    """``E1\\tPrescribe:T3 Drug:T1 Dose:T2``: a trigger entity id and (role, id) arguments in order."""

    id: str
    label: str
    trigger: str
    args: tuple[tuple[str, str], ...] = ()
    tail: str = ""


@dataclasses.dataclass(frozen=True)
class Attribute:
    """``A1\\tNegated T1`` (binary, ``value`` None) or ``A2\\tCertainty E1 Likely``; id prefix ``A`` or ``M``."""

    id: str
    label: str
    target: str
    value: str | None = None
    tail: str = ""


@dataclasses.dataclass(frozen=True)
class Normalization:
    """``N1\\tReference T1 RxNorm:6809\\tmetformin``: ``text`` (the concept name) is None when the line has none."""

    id: str
    label: str
    target: str
    refdb: str
    refid: str
    text: str | None = None


@dataclasses.dataclass(frozen=True)
class Note:
    """``#1\\tAnnotatorNotes T1\\tfree text``: ``text`` is None when the line has no tab after the target."""

    id: str
    label: str
    target: str
    text: str | None = None


@dataclasses.dataclass(frozen=True)
class Equivalence:
    """``*\\tEquiv T1 T2``: an unordered set of ids written in order; the line's id is always ``*``."""

    label: str
    ids: tuple[str, ...]
    tail: str = ""

    id = "*"  # class constant (not a field): the key every equivalence line has in AnnLayout.order


Annotation = Union[Entity, Relation, Event, Attribute, Normalization, Note, Equivalence]


@dataclasses.dataclass(frozen=True)
class AnnLayout:
    """How the .ann file was laid out, so that formatting reproduces it.

    ``order``: one entry per line, in file order: an annotation id (``*`` for an equivalence; the
    n-th occurrence of an id means the n-th annotation with that id), or a blank line verbatim
    (an entry made only of whitespace, possibly empty). Annotations not listed are written after the
    listed ones in kind order (T, R, E, A/M, N, #, *). ``newline`` is ``"\\n"`` or ``"\\r\\n"``;
    ``final_newline`` whether the last line ends with it.
    """

    order: tuple[str, ...] = ()
    newline: str = "\n"
    final_newline: bool = True


@dataclasses.dataclass(frozen=True)
class Document:
    """One .txt/.ann pair: ``text`` is the .txt read with ``newline=''``; ``id`` is its path stem."""

    id: str
    text: str
    entities: tuple[Entity, ...] = ()
    relations: tuple[Relation, ...] = ()
    events: tuple[Event, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    normalizations: tuple[Normalization, ...] = ()
    notes: tuple[Note, ...] = ()
    equivalences: tuple[Equivalence, ...] = ()
    layout: AnnLayout = AnnLayout()

    def annotations(self) -> tuple[Annotation, ...]:
        """Every annotation in kind order (T, R, E, A/M, N, #, *)."""
        return (*self.entities, *self.relations, *self.events, *self.attributes,
                *self.normalizations, *self.notes, *self.equivalences)

    def ids(self) -> set[str]:
        """Ids a reference may point to (everything but equivalences)."""
        return {a.id for a in self.annotations() if not isinstance(a, Equivalence)}

    def entity(self, entity_id: str) -> Entity:
        for entity in self.entities:
            if entity.id == entity_id:
                return entity
        raise KeyError(f"{self.id}: no entity {entity_id!r}; entities: {[e.id for e in self.entities]}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: spans become ``[[start, end], ...]`` lists."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        """Inverse of :meth:`to_dict`; missing annotation lists default to empty."""
        return cls(
            id=data["id"],
            text=data["text"],
            entities=tuple(
                Entity(e["id"], e["label"], tuple((int(s), int(t)) for s, t in e["spans"]), e["text"])
                for e in data.get("entities", ())
            ),
            relations=tuple(Relation(**r) for r in data.get("relations", ())),
            events=tuple(
                Event(e["id"], e["label"], e["trigger"], tuple((r, i) for r, i in e.get("args", ())), e.get("tail", ""))
                for e in data.get("events", ())
            ),
            attributes=tuple(Attribute(**a) for a in data.get("attributes", ())),
            normalizations=tuple(Normalization(**n) for n in data.get("normalizations", ())),
            notes=tuple(Note(**n) for n in data.get("notes", ())),
            equivalences=tuple(
                Equivalence(q["label"], tuple(q["ids"]), q.get("tail", "")) for q in data.get("equivalences", ())
            ),
            layout=_layout_from_dict(data.get("layout")),
        )


def _layout_from_dict(data: dict[str, Any] | None) -> AnnLayout:
    if not data:
        return AnnLayout()
    return AnnLayout(tuple(data.get("order", ())), data.get("newline", "\n"), bool(data.get("final_newline", True)))


def covered_text(text: str, spans: tuple[Span, ...]) -> str:
    """The text brat writes for ``spans``: the fragments of ``text`` joined by one space."""
    return DISCONTINUOUS_SEP.join(text[s:e] for s, e in spans)
