"""Line Turtle: the Turtle subset kg_build writes, with a fast reader for it.

A line-Turtle file is ordinary Turtle (rdflib, Protégé, Jena read it) written so that it can also be
read one line at a time without a Turtle parser:

    # clinsynth line-turtle v1
    @prefix skos: <http://www.w3.org/2004/02/skos/core#> .
    ICD10CM:E11.9 skos:prefLabel "Type 2 diabetes mellitus without complications" .

- the first line is exactly :data:`HEADER`;
- then ``@prefix`` lines, then one triple per line: ``subject predicate object .``, single spaces;
- subject and predicate are ``<iri>``, ``prefix:local`` (local matching ``[A-Za-z0-9_.-]``, not
  ending in ``.``) or ``a``; the object is one of those or a ``"literal"`` with an optional
  ``@lang`` or ``^^<datatype>``; literals escape only ``\\ \" \n \r \t``.

:func:`read_line_turtle` returns None on the first line outside this subset (a hand-edited file,
say), and the caller falls back to rdflib, which then reports any real syntax error with its line.
The fast path exists because rdflib's Turtle parser reads a few tens of thousands of triples a
second; the full default KG has several hundred thousand (see bench/kg.py).
"""

from __future__ import annotations

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


def _unescape(body: str) -> str | None:
    out, i = [], 0
    while True:
        j = body.find("\\", i)
        if j < 0:
            out.append(body[i:])
            return "".join(out)
        out.append(body[i:j])
        code = body[j + 1:j + 2]
        if code in _UNESCAPES:
            out.append(_UNESCAPES[code])
            i = j + 2
        elif code in ("u", "U"):
            width = 4 if code == "u" else 8
            try:
                out.append(chr(int(body[j + 2:j + 2 + width], 16)))
            except ValueError:
                return None
            i = j + 2 + width
        else:
            return None


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


def _resolve(token: str, prefixes: dict[str, str]) -> str | None:
    if token[0] == "<":
        return token[1:-1] if token[-1] == ">" and " " not in token else None
    if token == "a":
        return RDF_TYPE
    prefix, sep, local = token.partition(":")
    namespace = prefixes.get(prefix)
    if not sep or namespace is None or not local or local[-1] == "." or "\\" in local:
        return None
    return namespace + local


def _parse_object(text: str, prefixes: dict[str, str]) -> str | Lit | None:
    if text[0] != '"':
        return _resolve(text, prefixes)
    end = text.rfind('"')
    if end == 0:
        return None
    body, suffix = text[1:end], text[end + 1:]
    value = _unescape(body) if "\\" in body else body
    if value is None or '"' in body.replace('\\\\', "").replace('\\"', ""):
        return None
    if not suffix:
        return Lit(value)
    if suffix[0] == "@":
        return Lit(value, suffix[1:])
    if suffix.startswith("^^"):
        return Lit(value) if _resolve(suffix[2:], prefixes) is not None else None
    return None


def read_line_turtle(path: Path) -> list[Triple] | None:
    """All triples of a line-Turtle file, or None if the file is not (entirely) line Turtle."""
    with path.open(encoding="utf-8") as fh:
        if fh.readline().rstrip("\n") != HEADER:
            return None
        prefixes: dict[str, str] = {}
        triples: list[Triple] = []
        append = triples.append
        memo: dict[str, str | None] = {}
        for line in fh:
            if line[0] == "#" or line == "\n":
                continue
            if line.startswith("@prefix "):
                fields = line.split()
                if len(fields) != 4:
                    return None
                _, name, iri, dot = fields
                if not (name.endswith(":") and iri[0] == "<" and iri[-1] == ">" and dot == "."):
                    return None
                prefixes[name[:-1]] = iri[1:-1]
                continue
            if not line.endswith(" .\n"):
                return None
            parts = line[:-3].split(" ", 2)
            if len(parts) != 3:
                return None
            s_tok, p_tok, o_tok = parts
            s = memo.get(s_tok) or memo.setdefault(s_tok, _resolve(s_tok, prefixes))
            p = memo.get(p_tok) or memo.setdefault(p_tok, _resolve(p_tok, prefixes))
            if not o_tok:
                return None
            if o_tok[0] == '"':
                o = _parse_object(o_tok, prefixes)
            else:
                o = memo.get(o_tok) or memo.setdefault(o_tok, _resolve(o_tok, prefixes))
            if s is None or p is None or o is None:
                return None
            append((s, p, o))
    return triples
