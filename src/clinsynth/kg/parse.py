"""KG files -> triples: every RDF syntax rdflib reads, plus OBO through our own reader.

- :func:`parse_graph` reads one RDF file into an ``rdflib.Graph``; a syntax error becomes a
  :class:`KGFormatError` naming the file, the line and rdflib's own words.
- :func:`read_obo` reads an OBO 1.4 file into the same triples an OWL export would give
  (``rdfs:label``, ``oboInOwl:hasExactSynonym``, ``rdfs:subClassOf``, ...).
- :func:`read_triples` picks one of those (or the line-Turtle fast path) by format.

Triples are plain tuples ``(subject_iri, predicate_iri, object)`` where the object is an IRI string
or a :class:`Lit`; blank nodes are written ``_:id``.
"""

from __future__ import annotations

import json
import re
import xml.sax
from collections.abc import Iterator
from pathlib import Path

import rdflib

from clinsynth.kg.lineturtle import Lit, Triple, read_line_turtle
from clinsynth.kg.vocabulary import OBO, OBO_IN_OWL, OWL, RDFS, RDFS_LABEL, RDFS_SUBCLASS_OF

FORMATS = {
    ".ttl": "turtle", ".turtle": "turtle", ".nt": "nt", ".ntriples": "nt", ".n3": "n3",
    ".rdf": "xml", ".owl": "xml", ".xml": "xml", ".jsonld": "json-ld", ".json": "json-ld",
    ".trig": "trig", ".nq": "nquads", ".obo": "obo",
}


class KGFormatError(ValueError):
    """A KG file cannot be read, or reads as nothing clinsynth understands."""


def detect_format(path: Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise KGFormatError(
            f"{path}: cannot tell the format from suffix {path.suffix!r}; expected one of "
            f"{', '.join(sorted(FORMATS))}, or set format: in the kg.sources entry"
        ) from None


def _error_line(path: Path, exc: Exception) -> int | None:
    """The 1-based line rdflib's parsers point at, from whichever attribute that parser sets."""
    if hasattr(exc, "lines") and isinstance(exc.lines, int):  # notation3.BadSyntax: newlines before the error
        return exc.lines + 1
    for attr in ("_linenum", "lineno"):  # SAX (RDF/XML), JSON decoders (JSON-LD)
        value = getattr(exc, attr, None)
        if value is not None:
            return int(value)
    match = re.match(r"Invalid line: (.*)", str(exc), re.S)  # N-Triples: find the quoted line
    if match:
        snippet = match.group(1).strip()
        with path.open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                if snippet and snippet in line:
                    return number
    return None


def _rdflib_reason(exc: Exception) -> str:
    why = getattr(exc, "_why", None) or getattr(exc, "_msg", None) or getattr(exc, "msg", None) or str(exc)
    return " ".join(str(why).split())


def remote_contexts(document: object) -> list[str]:
    """Every ``@context`` / ``@import`` of a parsed JSON-LD document that names a remote URL."""
    found, stack = [], [document]
    while stack:  # iterative: a deeply nested document must not hit the recursion limit
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                refs = value if key in ("@context", "@import") and isinstance(value, list) else [value]
                for ref in refs:
                    if key in ("@context", "@import") and isinstance(ref, str) and _is_remote(ref):
                        found.append(ref)
                    elif isinstance(ref, (dict, list)):
                        stack.append(ref)
    return found


def _is_remote(ref: str) -> bool:
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", ref)
    return ref.startswith("//") or (scheme is not None and scheme.group(1).lower() != "file")


def _refuse_remote_context(path: Path) -> None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return  # not JSON: rdflib reports the syntax error with its line
    urls = remote_contexts(document)
    if urls:
        raise KGFormatError(
            f"{path}: JSON-LD @context {urls[0]!r} is a remote URL"
            + (f" (and {len(urls) - 1} more)" if len(urls) > 1 else "")
            + "; clinsynth runs offline and does not fetch it. Inline the context in the file (or save it next "
            "to the file and name it by a relative path), or set kg.allow_remote_context: true in params.yaml"
        )


def parse_graph(path: Path | str, fmt: str = "auto", allow_remote_context: bool = False) -> rdflib.Graph:
    """Parse one RDF file with rdflib. Errors: KGFormatError("<file>:<line>: <format> syntax error: <rdflib>").

    A JSON-LD file whose ``@context`` is a remote URL is refused unless ``allow_remote_context``
    (rdflib would fetch it: the pipeline promises offline runs).
    """
    path = Path(path)
    fmt = detect_format(path, fmt)
    if fmt == "obo":
        raise KGFormatError(f"{path}: OBO is not RDF; read it with read_obo()")
    if fmt == "json-ld" and not allow_remote_context:
        _refuse_remote_context(path)
    graph = rdflib.Graph()
    try:
        graph.parse(path, format=fmt)
    except (SyntaxError, ValueError, rdflib.exceptions.ParserError, xml.sax.SAXException) as exc:
        # Turtle/N3: BadSyntax (a SyntaxError); N-Triples: ParserError; RDF/XML: SAX; JSON-LD: JSON errors.
        line = _error_line(path, exc)
        where = f"{path}:{line}" if line is not None else f"{path}"
        raise KGFormatError(
            f"{where}: {fmt} syntax error: {_rdflib_reason(exc)} (rdflib {type(exc).__name__}); "
            f"fix the file, or set format: if {path.suffix!r} is not {fmt}"
        ) from exc
    return graph


def graph_triples(graph: rdflib.Graph) -> list[Triple]:
    """rdflib.Graph -> our triples, sorted so that loading is deterministic whatever the store order."""
    def term(node: rdflib.term.Node) -> str | Lit:
        if isinstance(node, rdflib.Literal):
            return Lit(str(node), node.language)
        if isinstance(node, rdflib.BNode):
            return f"_:{node}"
        return str(node)

    def key(node: str | Lit) -> str:
        return node if isinstance(node, str) else "\0" + node.value

    # N3 allows literal subjects: they are kept here and counted as skipped by the graph builder.
    triples = [(term(s), str(p), term(o)) for s, p, o in graph]
    triples.sort(key=lambda t: (key(t[0]), t[1], key(t[2])))
    return triples


def read_triples(path: Path | str, fmt: str = "auto", fast_path: bool = True,
                 allow_remote_context: bool = False) -> tuple[list[Triple], dict[str, str]]:
    """All triples of one KG file and the prefixes it declares (empty for OBO and the fast path).

    With ``fast_path`` a file that starts with the line-Turtle header is read line by line
    (lineturtle.py); anything else, or a line-Turtle file that strays from the subset, goes to rdflib.
    """
    path = Path(path)
    if not path.is_file():
        raise KGFormatError(f"{path}: no such KG file; check kg.sources in params.yaml")
    fmt = detect_format(path, fmt)
    if fmt == "obo":
        return list(read_obo(path)), {}
    if fast_path and fmt == "turtle":  # not "nt": N-Triples has no @prefix, rdflib would refuse what we accept
        triples = read_line_turtle(path)
        if triples is not None:
            return triples, {}
    graph = parse_graph(path, fmt, allow_remote_context)
    return graph_triples(graph), {prefix: str(ns) for prefix, ns in graph.namespaces() if prefix}


# ---- OBO ----------------------------------------------------------------------------------------

_SYNONYM = re.compile(r'"((?:[^"\\]|\\.)*)"\s+(EXACT|RELATED|BROAD|NARROW)\b')
_SYNONYM_PREDICATES = {scope: f"{OBO_IN_OWL}has{scope.title()}Synonym" for scope in ("EXACT", "RELATED", "BROAD", "NARROW")}
# OBO tags kept as their usual OWL-export predicates; all of them have the metadata role except
# name, synonym and is_a. Tags not listed become oboInOwl:<tag> and are counted as unknown.
_TAG_PREDICATES = {
    "def": OBO + "IAO_0000115", "comment": RDFS + "comment", "xref": OBO_IN_OWL + "hasDbXref",
    "alt_id": OBO_IN_OWL + "hasAlternativeId", "subset": OBO_IN_OWL + "inSubset",
    "creation_date": OBO_IN_OWL + "creation_date", "created_by": OBO_IN_OWL + "created_by",
    "property_value": OBO_IN_OWL + "property_value", "replaced_by": OBO + "IAO_0100001",
    "consider": OBO_IN_OWL + "consider", "equivalent_to": OWL + "equivalentClass",
}
OBO_METADATA_PREDICATES = frozenset(
    [*_TAG_PREDICATES.values(), *(p for s, p in _SYNONYM_PREDICATES.items() if s != "EXACT")]
)


def obo_iri(identifier: str) -> str:
    """``HP:0000118`` -> ``http://purl.obolibrary.org/obo/HP_0000118`` (the OBO PURL rule)."""
    if identifier.startswith(("http://", "https://")):
        return identifier
    prefix, sep, local = identifier.partition(":")
    return f"{OBO}{prefix}_{local}" if sep else f"{OBO}{identifier}"


def _strip_value(value: str) -> str:
    """Drop a trailing ``! comment`` and ``{qualifiers}`` from an OBO tag value."""
    value = re.sub(r"\s+!\s.*$", "", value)
    return re.sub(r"\s*\{[^}]*\}\s*$", "", value).strip()


def read_obo(path: Path | str) -> Iterator[Triple]:
    """Triples of every non-obsolete ``[Term]`` stanza of an OBO 1.4 file.

    ``name`` -> rdfs:label, ``synonym "x" EXACT`` -> oboInOwl:hasExactSynonym (RELATED/BROAD/NARROW
    -> their oboInOwl predicates, metadata by default), ``is_a`` -> rdfs:subClassOf,
    ``relationship: rel X`` -> ``obo:rel``. Obsolete terms are skipped whole.
    Errors: KGFormatError("<file>:<line>: ...") for a tag line without ``:``, a term without ``id``,
    with two ``id:`` tags or an id another stanza already has (both lines named), an empty ``is_a:``
    or ``relationship:`` target, or a synonym without a quoted text and scope.
    """
    path = Path(path)
    stanza: str | None = None
    term: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}  # term id -> line of its id: tag, to name both lines of a duplicate
    with path.open(encoding="utf-8") as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line.startswith("!"):
                continue
            if line.startswith("[") and line.endswith("]"):
                if stanza == "Term":
                    yield from _term_triples(path, term, seen)
                stanza, term = line[1:-1], []
                continue
            tag, sep, value = line.partition(":")
            if not sep:
                raise KGFormatError(f"{path}:{number}: expected 'tag: value', got {line!r}")
            if stanza == "Term":
                term.append((number, tag.strip(), value.strip()))
    if stanza == "Term":
        yield from _term_triples(path, term, seen)


def _term_triples(path: Path, tags: list[tuple[int, str, str]], seen: dict[str, int]) -> Iterator[Triple]:
    ids = [(number, _strip_value(value)) for number, tag, value in tags if tag == "id"]
    if not ids:
        first = tags[0][0] - 1 if tags else "?"
        raise KGFormatError(f"{path}:{first}: [Term] without an 'id:' tag; every term needs one")
    if len(ids) > 1:
        raise KGFormatError(f"{path}:{ids[1][0]}: second 'id:' tag {ids[1][1]!r} in the [Term] of {ids[0][1]!r} "
                            f"(line {ids[0][0]}); a term has exactly one id (alt_id: for the others)")
    id_line, identifier = ids[0]
    if not identifier:
        raise KGFormatError(f"{path}:{id_line}: empty 'id:' tag; expected 'id: PREFIX:LOCAL'")
    if identifier in seen:
        raise KGFormatError(f"{path}:{id_line}: [Term] {identifier!r} again; its first stanza is at line "
                            f"{seen[identifier]}; merge the two stanzas or fix the id")
    seen[identifier] = id_line
    if any(tag == "is_obsolete" and value.startswith("true") for _, tag, value in tags):
        return
    subject = obo_iri(identifier)
    for number, tag, value in tags:
        if tag == "id":
            continue
        if tag == "name":
            yield subject, RDFS_LABEL, Lit(value)
        elif tag == "synonym":
            match = _SYNONYM.match(value)
            if not match:
                raise KGFormatError(
                    f'{path}:{number}: synonym {value!r}; expected \'"text" EXACT|RELATED|BROAD|NARROW [xrefs]\''
                )
            text = match.group(1).replace('\\"', '"').replace("\\\\", "\\")
            yield subject, _SYNONYM_PREDICATES[match.group(2)], Lit(text)
        elif tag == "is_a":
            parent = _strip_value(value)
            if not parent or parent.startswith("!"):
                raise KGFormatError(f"{path}:{number}: empty 'is_a:' in the [Term] of {identifier!r}; "
                                    "expected 'is_a: PARENT:ID', or delete the line")
            yield subject, RDFS_SUBCLASS_OF, obo_iri(parent)
        elif tag == "relationship":
            relation, _, target = _strip_value(value).partition(" ")
            if not relation or not target.strip():
                raise KGFormatError(f"{path}:{number}: relationship {value!r} in the [Term] of {identifier!r}; "
                                    "expected 'relationship: RELATION TARGET:ID'")
            yield subject, OBO + relation, obo_iri(target.strip())
        else:
            yield subject, _TAG_PREDICATES.get(tag, OBO_IN_OWL + tag), Lit(value)
