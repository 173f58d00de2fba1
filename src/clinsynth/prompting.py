"""Prompt templates (Jinja2 files under ``prompts/``) and the Prompt records rendered from them.

Template names are versioned: ``<recipe>.<name>.v<N>`` lives in ``prompts/<recipe>/<name>.v<N>.j2``.
A template defines its chat messages as Jinja blocks, rendered in this order and stripped::

    {% block system %}You are a clinical writer.{% endblock %}
    {% block user %}Rephrase this note:\n{{ text }}{% endblock %}

``system`` is optional, ``user`` required. An optional worked example, ``{% block example_user %}`` and
``{% block example_assistant %}`` (both or neither), becomes a user/assistant exchange before the real user
turn: small chat models follow a format shown as a past reply far better than one described in the message. Variables are strict: an undefined one raises
:class:`TemplateError` naming the template and the variable.

A Prompt's ``id`` depends only on the template *name* and the source ids, never on the template
text, so editing one template's text keeps every prompt id but changes that template's rendered
messages (and so only its cache keys); the seed derives from the id.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from clinsynth.generation.types import Contract, Message, request_seed
from clinsynth.records import Prompt

TEMPLATE_NAME = re.compile(r"^(?P<recipe>[a-z][a-z0-9_]*)\.(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>[0-9]+)$")
ROLES = ("system", "example_user", "example_assistant", "user")  # blocks, in message order
MESSAGE_ROLE = {"system": "system", "example_user": "user", "example_assistant": "assistant", "user": "user"}
_UNDEFINED = re.compile(r"'(?P<name>[^']+)' is undefined|has no attribute '(?P<attr>[^']+)'")


class TemplateError(ValueError):
    """A template is missing, malformed, or uses a variable the recipe does not supply."""


@dataclasses.dataclass(frozen=True)
class Template:
    name: str  # "<recipe>.<name>.v<N>", e.g. "notes.general.v1"
    path: str
    sha: str  # sha256 of the template file text (first 16 hex)
    source: str


_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def template_path(prompts_dir: Path | str, name: str) -> Path:
    match = TEMPLATE_NAME.match(name)
    if not match:
        raise TemplateError(f"template name {name!r}: expected '<recipe>.<name>.v<N>', e.g. 'notes.general.v1'")
    return Path(prompts_dir) / match["recipe"] / f"{match['name']}.v{match['version']}.j2"


def load_template(prompts_dir: Path | str, name: str) -> Template:
    """Read and syntax-check template ``name`` (``notes.general.v1`` -> ``prompts/notes/general.v1.j2``)."""
    path = template_path(prompts_dir, name)
    if not path.is_file():
        found = sorted(p.stem for p in path.parent.glob("*.j2")) if path.parent.is_dir() else []
        raise TemplateError(f"{name}: {path} not found; templates in {path.parent}: {found or 'none'}")
    source = path.read_text(encoding="utf-8")
    try:
        parsed = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{name} ({path}:{exc.lineno}): syntax error: {exc.message}") from exc
    blocks = {b.name for b in parsed.find_all(jinja2.nodes.Block)}
    if "user" not in blocks:
        raise TemplateError(f"{name} ({path}): no '{{% block user %}}'; a template defines blocks {list(ROLES)}")
    unknown = sorted(blocks - set(ROLES))
    if unknown:
        raise TemplateError(f"{name} ({path}): unknown block {unknown[0]!r}; expected blocks {list(ROLES)}")
    example = blocks & {"example_user", "example_assistant"}
    if len(example) == 1:
        raise TemplateError(f"{name} ({path}): block {sorted(example)[0]!r} without its pair; a worked example "
                            "needs both 'example_user' and 'example_assistant'")
    return Template(name, str(path), hashlib.sha256(source.encode("utf-8")).hexdigest()[:16], source)


def optional_variables(parsed: jinja2.nodes.Template) -> set[str]:
    """Variables the template guards itself: ``x is defined`` / ``x is undefined`` tests and ``x | default(...)``.

    They may be absent from the recipe's variables; an unguarded use of one still fails at render time
    (StrictUndefined), with the same TemplateError.
    """
    guarded = {t.node.name for t in parsed.find_all(jinja2.nodes.Test)
               if t.name in ("defined", "undefined") and isinstance(t.node, jinja2.nodes.Name)}
    guarded |= {f.node.name for f in parsed.find_all(jinja2.nodes.Filter)
                if f.name in ("default", "d") and isinstance(f.node, jinja2.nodes.Name)}
    return guarded


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> tuple[frozenset[str], jinja2.Template]:
    """The variables a template needs unguarded, and the template compiled: once per template text (the full
    profile renders tens of thousands of prompts from a handful of templates)."""
    parsed = _ENV.parse(source)
    return frozenset(jinja2.meta.find_undeclared_variables(parsed) - optional_variables(parsed)), _ENV.from_string(source)


def render_messages(template: Template, variables: Mapping[str, Any]) -> tuple[Message, ...]:
    """Render each role block of ``template`` with ``variables``; missing variables raise TemplateError."""
    needed, compiled = _compiled(template.source)
    missing = sorted(needed - set(variables))
    if missing:
        raise TemplateError(f"{template.name} ({template.path}): undefined variable {missing[0]!r}; "
                            f"the recipe supplies {sorted(variables)}")
    messages = []
    try:
        for role in ROLES:
            if role in compiled.blocks:
                text = "".join(compiled.blocks[role](compiled.new_context(dict(variables)))).strip()
                messages.append(Message(MESSAGE_ROLE[role], text))
    except jinja2.UndefinedError as exc:
        match = _UNDEFINED.search(str(exc))
        what = (match["name"] or match["attr"]) if match else str(exc)
        raise TemplateError(f"{template.name} ({template.path}): undefined variable {what!r} ({exc})") from exc
    return tuple(messages)


def prompt_id(template_name: str, source_ids: Sequence[str]) -> str:
    """Stable id: ``<template name>:`` + 16 hex of sha256(template name, source ids)."""
    digest = hashlib.sha256("\0".join([template_name, *source_ids]).encode("utf-8")).hexdigest()[:16]
    return f"{template_name}:{digest}"


def build_prompts(
    recipe: str,
    templates: Iterable[Template],
    sources: Iterable[Any],
    build_vars: Callable[[Any], dict[str, Any]],
    source_ids: Callable[[Any], Sequence[str]],
    base_seed: int,
    templates_for: Callable[[Any], Collection[str] | None] | None = None,
    build_contract: Callable[[Any], Contract | None] | None = None,
) -> list[Prompt]:
    """Render every source under every template (or, with ``templates_for``, under the templates it names
    for that source; None: all); sorted by prompt id (deterministic output). ``build_contract`` (a
    source -> its reply contract or None) sets each prompt's ``contract``; without it none has one."""
    sources = list(sources)
    prompts = []
    for template in templates:
        for source in sources:
            allowed = templates_for(source) if templates_for is not None else None
            if allowed is not None and template.name not in allowed:
                continue
            variables, ids = build_vars(source), tuple(source_ids(source))
            pid = prompt_id(template.name, ids)
            contract = build_contract(source) if build_contract is not None else None
            prompts.append(Prompt(pid, recipe, template.name, template.sha, render_messages(template, variables),
                                  variables, ids, request_seed(base_seed, pid), contract))
    prompts.sort(key=lambda p: p.id)
    duplicates = len(prompts) - len({p.id for p in prompts})
    if duplicates:
        raise TemplateError(f"{recipe}: {duplicates} prompts share an id; source ids must be unique per template")
    return prompts
