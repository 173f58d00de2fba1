r"""Line Turtle: the Turtle subset kg_build writes, with a fast reader for it.

A line-Turtle file is ordinary Turtle (rdflib, Protégé, Jena read it) written so that it can also be
read one line at a time without a Turtle parser:

    # clinsynth line-turtle v1
    @prefix skos: <http://www.w3.org/2004/02/skos/core#> .
    ICD10CM:E11.9 skos:prefLabel "Type 2 diabetes mellitus without complications" .

- the first line is exactly :data:`HEADER`;
- then comment lines (``#`` first), ``@prefix`` lines (a prefix may be redefined; later lines use the
  new namespace) and triples, one per line: ``subject predicate object .``, single spaces, ``\n`` ends;
- subject and predicate are ``<absolute-iri>`` or ``prefix:local`` (local matching
  ``[A-Za-z0-9_.-]``, not starting with ``.``/``-`` nor ending in ``.``), the predicate may be ``a``;
  the object is one of those or a ``"literal"`` with an optional ``@lang`` (no ``^^datatype``);
  literals may use Turtle's string escapes (``\\ \" \n \r \t \b \f \' \uXXXX \UXXXXXXXX``).
  No ``,``/``;`` lists, blank nodes, relative IRIs, long strings or trailing comments.

:func:`read_line_turtle` returns None on the first line outside this subset (a hand-edited file,
say), and the caller falls back to rdflib, which then reports any real syntax error with its line.
The fast path exists because rdflib's Turtle parser reads a few tens of thousands of triples a
second; the full default KG has several hundred thousand (see bench/kg.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple, TextIO

from clinsynth.kg.vocabulary import RDF_TYPE, turtle_term

HEADER = "# clinsynth line-turtle v1"


class Lit(NamedTuple):
    """An RDF literal: its lexical value and language tag (None when untagged)."""

    value: str
    lang: str | None = None


# A triple: subject and predicate are IRIs (blank nodes as "_:id"); the object an IRI or a Lit.
Triple = tuple[str, str, "str | Lit"]

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t", "'": "'", "b": "\b", "f": "\f"}


def escape_literal(value: str) -> str:
    if any(ch in value for ch in _ESCAPES):
        value = "".join(_ESCAPES.get(ch, ch) for ch in value)
    return f'"{value}"'


def write_line_turtle(fh: TextIO, triples: Iterable[Triple], prefixes: dict[str, str], comment: str = "") -> int:
    """Write ``triples`` as line Turtle (see module doc); returns the number written."""
    fh.write(HEADER + "\n")
    for line in comment.splitlines():
        fh.write(f"# {line}\n")
    for prefix, namespace in prefixes.items():
        fh.write(f"@prefix {prefix}: <{namespace}> .\n")
    count = 0
    term = {}  # memo: IRIs repeat a lot

    def as_term(iri: str) -> str:
        text = term.get(iri)
        if text is None:
            text = term[iri] = "a" if iri == RDF_TYPE else turtle_term(iri, prefixes)
        return text

    for s, p, o in triples:
        if isinstance(o, Lit):
            obj = escape_literal(o.value) + (f"@{o.lang}" if o.lang else "")
        else:
            obj = as_term(o)
        fh.write(f"{as_term(s)} {as_term(p)} {obj} .\n")
        count += 1
    return count


# The strict subset, as regexes. Anything they do not match makes the whole file go to rdflib, so
# they only need to be *narrower* than Turtle, never wider: no datatypes (rdflib normalises typed
# lexical forms, "01"^^xsd:integer -> "1"), no relative IRIs (rdflib resolves them against the file),
# no blank nodes (rdflib renames them), no `,`/`;` lists, exactly one space between terms.
_IRI = r"<[A-Za-z][A-Za-z0-9+.-]*:[!#-;=?-\[\]_a-z~\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*>"
_PNAME = r"([A-Za-z][A-Za-z0-9_-]*)?:([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?)"
_TERM = re.compile(rf"{_IRI}|{_PNAME}")
_PREDICATE = re.compile(rf"{_IRI}|{_PNAME}|a")
_LITERAL = re.compile(
    r'"((?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[tbnrf"\'\\]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8})*)"'
    r"(?:@([A-Za-z]+(?:-[A-Za-z0-9]+)*))?"
)
_PREFIX_LINE = re.compile(rf"@prefix ([A-Za-z][A-Za-z0-9_-]*)?: ({_IRI}) \.\n")
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))")


def _resolve(token: str, prefixes: dict[str, str], pattern: re.Pattern = _TERM) -> str | None:
    """The IRI of a subject/predicate/object token, or None outside the subset."""
    match = pattern.fullmatch(token)
    if match is None:
        return None
    if token == "a":
        return RDF_TYPE
    if token[0] == "<":
        return token[1:-1]
    namespace = prefixes.get(match.group(1) or "")
    return None if namespace is None else namespace + match.group(2)


def _unescape_match(match: re.Match) -> str:
    code = match.group(1) or match.group(2)
    if code is None:
        return _UNESCAPES[match.group(3)]
    point = int(code, 16)
    if 0xD800 <= point <= 0xDFFF or point > 0x10FFFF:
        raise ValueError(point)  # a surrogate or beyond Unicode: let rdflib judge it
    return chr(point)


def _parse_object(text: str, prefixes: dict[str, str]) -> str | Lit | None:
    if text[0] != '"':
        return _resolve(text, prefixes)
    match = _LITERAL.fullmatch(text)
    if match is None:
        return None
    body, lang = match.groups()
    if "\\" in body:
        try:
            body = _ESCAPE.sub(_unescape_match, body)
        except ValueError:
            return None
    return Lit(body, lang)


def read_line_turtle(path: Path) -> list[Triple] | None:
    """All triples of a line-Turtle file, or None if the file is not (entirely) line Turtle.

    When it returns triples they are exactly the set rdflib reads from the file (duplicates dropped,
    file order kept); tests/kg/test_lineturtle_differential.py checks that on generated files.
    """
    with path.open(encoding="utf-8", newline="\n") as fh:
        if fh.readline() != HEADER + "\n":
            return None
        prefixes: dict[str, str] = {}
        triples: list[Triple] = []
        seen: set[Triple] = set()
        memo: dict[str, str | None] = {}  # token -> IRI under the current prefixes
        pmemo: dict[str, str | None] = {}
        for line in fh:
            if line[0] == "#" or line == "\n":
                continue  # a comment line: '#' first (a '#' after a triple is outside the subset)
            if line.startswith("@prefix "):
                match = _PREFIX_LINE.fullmatch(line)
                if match is None:
                    return None
                prefixes[match.group(1) or ""] = match.group(2)[1:-1]
                memo.clear()  # a redefined prefix changes what the tokens already seen mean
                pmemo.clear()
                continue
            if not line.endswith(" .\n"):
                return None
            parts = line[:-3].split(" ", 2)
            if len(parts) != 3 or not parts[2]:
                return None
            s_tok, p_tok, o_tok = parts
            s = memo[s_tok] if s_tok in memo else memo.setdefault(s_tok, _resolve(s_tok, prefixes))
            p = pmemo[p_tok] if p_tok in pmemo else pmemo.setdefault(p_tok, _resolve(p_tok, prefixes, _PREDICATE))
            if o_tok[0] == '"':
                o = _parse_object(o_tok, prefixes)
            else:
                o = memo[o_tok] if o_tok in memo else memo.setdefault(o_tok, _resolve(o_tok, prefixes))
            if s is None or p is None or o is None:
                return None
            triple = (s, p, o)
            if triple not in seen:
                seen.add(triple)
                triples.append(triple)
    return triples
