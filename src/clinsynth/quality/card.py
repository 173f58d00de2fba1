"""The data card written beside every synthetic corpus: ``CARD.md`` for people, ``card.json`` for tools.

``CARD.md`` is a Hugging Face dataset card: YAML front matter (``huggingface_hub.DatasetCardData``: pretty_name,
license, language, task categories, size category, tags, and ``configs`` whose ``data_files`` name the corpus
files relative to the folder), then the Markdown body. ``load_corpus(folder)`` reads a config through
``datasets.load_dataset`` from those ``data_files``; saved as ``README.md`` (``DatasetCard.load(CARD.md).save``)
the folder loads with ``datasets.load_dataset(folder)`` or pushes to the Hub as is.

It says what made the corpus (generator model and weights hash, adapter, templates and their hashes,
sampling params hash and seed), what went in and out (counts, rejection and drop reasons), how it scored
(leakage, duplicates, diversity, membership audit, limits) and how to rebuild it (``dvc repro postprocess@R``).
Everything in it is deterministic: no dates, no timings.

Model identities are read from Generation records, written ``<name>@<weights sha>`` with an optional
``+<adapter>`` part (the engine's ``Backend.identity``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clinsynth.records import Generation, Prompt
from clinsynth.records import write_json

DATA_FILES = {"default": "records.jsonl"}  # config name -> file in the corpus folder, always written
PARQUET_CONFIG = "parquet"  # the config of the Parquet copy (clinsynth.quality.table.corpus_configs)
TAGS = ["synthetic", "clinical", "clinsynth"]
# Hub size categories by upper bound of the row count
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"))


@dataclasses.dataclass(frozen=True)
class DataCard:
    recipe: str
    command: str  # how to rebuild the corpus
    generators: list[dict[str, Any]]  # {identity, name, weights_sha, adapter, generations}
    templates: list[dict[str, Any]]  # {name, sha, prompts}
    sampling: dict[str, Any]  # {params_sha: {sha: generations}, seed}
    counts: dict[str, Any]
    leakage: dict[str, Any]
    dedup: dict[str, Any]
    diversity: dict[str, Any]
    membership: dict[str, Any]
    limits: dict[str, Any]
    inputs: dict[str, str]  # path -> sha256 of the file read
    degeneracy: dict[str, Any] = dataclasses.field(default_factory=dict)  # {stripped, dropped} by reason
    fidelity: dict[str, Any] = dataclasses.field(default_factory=dict)  # {kg_linked, corpus, templates}
    license: str = "other"
    task_categories: list[str] = dataclasses.field(default_factory=list)
    data_files: dict[str, str] = dataclasses.field(default_factory=lambda: dict(DATA_FILES))  # config -> file
    json_columns: list[str] = dataclasses.field(default_factory=list)  # parquet columns holding a dict as JSON


def parse_identity(identity: str) -> dict[str, Any]:
    """``name@sha[+adapter]`` -> name, weights_sha, adapter (None when absent)."""
    base, plus, adapter = identity.partition("+")
    name, at, sha = base.partition("@")
    return {"identity": identity, "name": name, "weights_sha": sha if at else None, "adapter": adapter if plus else None}


def build_card(recipe: str, prompts: Sequence[Prompt], generations: Sequence[Generation],
               metrics: dict[str, Any], inputs: dict[str, str], seed: int, license: str = "other",
               task_categories: Sequence[str] = (), data_files: dict[str, str] | None = None,
               json_columns: Sequence[str] = ()) -> DataCard:
    """``recipe`` names the corpus; ``data_files`` its configs (config -> file in the folder), ``json_columns``
    the Parquet columns holding a dict as JSON."""
    models = Counter(g.model for g in generations)
    templates = Counter((p.template, p.template_sha) for p in prompts)
    return DataCard(
        recipe=recipe,
        command=f"dvc repro postprocess@{recipe}",
        generators=[{**parse_identity(m), "generations": c} for m, c in sorted(models.items())],
        templates=[{"name": t, "sha": sha, "prompts": c} for (t, sha), c in sorted(templates.items())],
        sampling={"params_sha": dict(sorted(Counter(g.params_sha for g in generations).items())), "seed": seed},
        counts=metrics["counts"],
        leakage=metrics["leakage"],
        dedup=metrics["dedup"],
        diversity=metrics["diversity"],
        membership=metrics["membership"],
        limits=metrics["limits"],
        inputs=dict(sorted(inputs.items())),
        degeneracy={k: metrics.get("degeneracy", {}).get(k, {}) for k in ("stripped", "dropped")},
        fidelity={k: metrics.get("fidelity", {}).get(k) for k in ("kg_linked", "corpus", "templates")},
        license=license,
        task_categories=list(task_categories),
        data_files=dict(data_files or DATA_FILES),
        json_columns=list(json_columns),
    )


def size_category(rows: int) -> str:
    return next((name for bound, name in SIZE_CATEGORIES if rows < bound), "other")


def card_data(card: DataCard):
    """The front matter as ``huggingface_hub.DatasetCardData``: one config per file, split ``train``."""
    from huggingface_hub import DatasetCardData

    return DatasetCardData(
        pretty_name=f"clinsynth synthetic corpus: {card.recipe}",
        license=card.license,
        language=["en"],
        task_categories=card.task_categories or None,
        size_categories=[size_category(card.counts["kept"])],
        annotations_creators=["machine-generated"],
        language_creators=["machine-generated"],
        multilinguality=["monolingual"],
        tags=list(TAGS),
        configs=[{"config_name": name, "data_files": [{"split": "train", "path": path}]}
                 for name, path in card.data_files.items()],
    )


def _files_lines(card: DataCard) -> list[str]:
    lines = ["## Files", "",
             "`records.jsonl`: one gated `SyntheticRecord` per line (clinsynth.records; keys sorted), the rows of "
             "the `default` config; `dropped.jsonl`: the dropped records with their reason. Read with "
             "`clinsynth.records.read_records`, or as a `datasets.Dataset`:", "",
             "```python",
             "from clinsynth.quality.card import load_corpus",
             f"rows = load_corpus(\"data/synthetic/{card.recipe}\")  # the card's data_files; config=... for another",
             "```", ""]
    if PARQUET_CONFIG in card.data_files:
        lines += [f"`{card.data_files[PARQUET_CONFIG]}` (config `{PARQUET_CONFIG}`): the same rows in the same order "
                  "with one fixed Arrow schema. The free-form dicts differ in keys between records, so these columns "
                  "hold each dict as a JSON string (keys sorted; `json.loads` gives it back): "
                  + ", ".join(f"`{c}`" for c in card.json_columns) + ".", ""]
    else:
        lines += ["No Parquet copy (`postprocess.parquet` is off for this profile).", ""]
    return lines


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return lines


def _fidelity_lines(card: DataCard) -> list[str]:
    d, f = card.degeneracy, card.fidelity
    lines = ["## Degeneracy and fidelity", "",
             "Stripped: " + (", ".join(f"{k} {n}" for k, n in d.get("stripped", {}).items()) or "nothing")
             + "; dropped: " + (", ".join(f"{k} {n}" for k, n in d.get("dropped", {}).items()) or "none") + ".", ""]
    templates = f.get("templates") or {}
    if templates:
        rows = [(t, s["measured"], (s.get("retained") or {}).get("mean"), s.get("with_invented"),
                 s.get("with_changed_values")) for t, s in templates.items()]
        lines += _table(["template", "records", "retained (mean)", "with invented concepts", "with changed values"], rows)
        lines += ["", "Concepts are KG nodes" + ("" if f.get("kg_linked") else " (no KG linked: values only)")
                  + "; see docs/quality.md (Fidelity) for what the figures cannot see.", ""]
    return lines


def render_card(card: DataCard) -> str:
    """The Markdown card; every figure comes from ``card`` (so CARD.md and card.json never disagree)."""
    c, leak, div, mem = card.counts, card.leakage, card.diversity, card.membership
    span, overlap = leak["train"]["longest_span"], leak["train"]["overlap"]
    lines = [f"# Synthetic corpus: {card.recipe}", "",
             f"Rebuild: `{card.command}`", "", *_files_lines(card), "## Generator", ""]
    lines += _table(["model", "weights sha", "adapter", "generations"],
                    [(g["name"], g["weights_sha"], g["adapter"], g["generations"]) for g in card.generators])
    lines += ["", f"Sampling params sha: {', '.join(f'`{s}` ({n})' for s, n in card.sampling['params_sha'].items())}; "
              f"seed {card.sampling['seed']} (each request's seed derives from it and the prompt id).", "",
              "## Prompt templates", ""]
    lines += _table(["template", "sha", "prompts"], [(t["name"], f"`{t['sha']}`", t["prompts"]) for t in card.templates])
    lines += ["", "## Counts", ""]
    rows = [("prompts", c["prompts"]), ("generations", c["generations"])]
    rows += [(f"rejected at generation: {r}", n) for r, n in c["rejected_at_generation"].items()]
    rows += [("prompts without output", c["prompts_without_output"])]
    rows += [(f"dropped: {r}", n) for r, n in c["dropped"].items()]
    rows += [("**kept**", f"**{c['kept']}** ({c['kept_fraction']:.1%} of generations)")]
    lines += _table(["", "records"], rows)
    lines += ["", "## Leakage against the train notes", "",
              f"Verbatim spans of >= {leak['ngram']} tokens, {leak['train_notes']} train notes; a record is "
              f"dropped above a {leak['max_span']}-token span or {leak['max_overlap']} n-gram overlap.", ""]
    lines += _table(["figure", "mean", "p50", "p90", "p95", "p99", "max"],
                    [(name, *(d[k] for k in ("mean", "p50", "p90", "p95", "p99", "max")))
                     for name, d in (("longest span (tokens)", span), ("n-gram overlap", overlap))])
    lines += ["", "Longest span histogram: " + ", ".join(f"{b}: {n}" for b, n in span["histogram"].items()),
              "", f"Against each record's own prompted source: {leak['prompted_source']['measured']} measured, "
              f"longest span p95 {leak['prompted_source']['longest_span']['p95']}, "
              f"max {leak['prompted_source']['longest_span']['max']}.", "", "## Duplicates", "",
              f"{card.dedup['exact']} exact and {card.dedup['near']} near-duplicates dropped (Jaccard of "
              f"{card.dedup['shingle']}-token shingles >= {card.dedup['threshold']}); "
              f"`clinsynth quality why-dropped ID` explains each.", "", "## Diversity", ""]
    real = div["real"]
    lines += _table(["", "distinct-1", "distinct-2", f"self-BLEU (sample of {div['self_bleu_sample']})", "tokens"],
                    [("synthetic", div["distinct_1"], div["distinct_2"], div["self_bleu"], div["tokens"]),
                     ("real notes (token-matched)", real["distinct_1"], real["distinct_2"], real["self_bleu"],
                      real["tokens"])])
    lines += ["", f"distinct-2 ratio {div['distinct_2_ratio']}, self-BLEU gap {div['self_bleu_gap']}; "
              f"{div['vocab_overlap']} of the synthetic vocabulary occurs in the real notes, which it covers "
              f"{div['real_vocab_coverage']} of."]
    lines += ["", "## Membership audit", "",
              f"Cross-validated ROC AUC of telling {mem['members']} member notes ({mem['member_set']}) from "
              f"{mem['non_members']} held-out notes by their TF-IDF closeness to the corpus: **{mem['auc']}** "
              f"(0.5 is best; {mem['status']}). Nearest-note member share: {mem['nearest_member_share']}.",
              "", *_fidelity_lines(card), "## Limits", ""]
    lines += _table(["limit", "metric", "value", "limit value", "status"],
                    [(f"`{v['param']}`", v["metric"], v["value"], v["limit"], v["status"]) for v in card.limits.values()])
    lines += ["", "## Inputs", ""]
    lines += _table(["file", "sha256"], [(f"`{p}`", f"`{sha}`") for p, sha in card.inputs.items()])
    return f"---\n{card_data(card).to_yaml()}\n---\n\n" + "\n".join(lines) + "\n"


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_corpus(folder: Path | str, config: str = "default", **kwargs: Any):
    """The ``train`` split of ``config`` as a ``datasets.Dataset``, read from the data_files ``CARD.md`` names.

    ``kwargs`` go to ``datasets.load_dataset`` (``cache_dir=...``). Unknown config: ValueError naming the listed ones.
    """
    import datasets
    from huggingface_hub import DatasetCard

    folder = Path(folder)
    configs = {c["config_name"]: c for c in DatasetCard.load(folder / "CARD.md").data.configs}
    if config not in configs:
        raise ValueError(f"{folder / 'CARD.md'}: no config {config!r}; the card lists {sorted(configs)}")
    files = {f["split"]: str(folder / f["path"]) for f in configs[config]["data_files"]}
    builder = "parquet" if all(p.endswith(".parquet") for p in files.values()) else "json"
    return datasets.load_dataset(builder, data_files=files, split="train", **kwargs)


def write_card(out_dir: Path | str, card: DataCard) -> None:
    """Write ``out_dir/CARD.md`` and ``out_dir/card.json`` (sorted keys)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "card.json", card)
    tmp = out_dir / "CARD.md.tmp"
    tmp.write_text(render_card(card), encoding="utf-8")
    tmp.replace(out_dir / "CARD.md")
