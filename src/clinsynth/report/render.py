"""``render_report(inputs) -> str``: the whole report as one self-contained HTML page.

No external assets: CSS inline, figures as base64 PNG data URIs. Every section has a stable ``id``
(``summary``, ``missing``, ``recipe-R`` with ``R-samples``, ``R-quality``, ``R-downstream``, ``R-plots``,
``timings``) and every figure an ``img.plot`` with ``data-plot``, so tests and links can find them. The page
holds no date or timing unless :attr:`ReportInputs.timings` is set, so it is byte-identical run to run.
"""

from __future__ import annotations

import html
import re
from typing import Any

from clinsynth.report.compare import Comparison, as_matrix, flatten, is_number, pair_comparisons, unpaired
from clinsynth.report.highlight import highlight_html
from clinsynth.report.inputs import Curve, RecipeInputs, ReportInputs, Sample
from clinsynth.report.plots import confusion_png, curve_png, data_uri, deltas_png, histogram_png

CSS = """
body{font:14px/1.45 "DejaVu Sans",system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:0 20px 40px;color:#1f2328}
h1{margin:20px 0 4px}h2{border-bottom:2px solid #d0d7de;padding-bottom:4px;margin-top:36px}h3{margin:22px 0 8px}
nav a{margin-right:12px}code{background:#f6f8fa;padding:0 3px;border-radius:3px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;min-width:220px}
.card h3{margin:0 0 6px;font-size:14px}.headline{font-size:13px}.headline b{font-size:15px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px;margin-bottom:14px}
.pair>div{border:1px solid #d0d7de;border-radius:6px;padding:8px;white-space:pre-wrap;font-size:12.5px}
.pair h4{margin:0 0 4px;font-size:12px;color:#57606a;white-space:normal}
mark{background:#ffd8a8;border-radius:2px}mark.invented{background:#ffc1c0}.better{color:#1a7f37;font-weight:bold}.worse{color:#cf222e;font-weight:bold}
.same{color:#6e7781}.failed{color:#cf222e;font-weight:bold}.passed{color:#1a7f37}.note{color:#57606a}
#missing li{margin:2px 0}img.plot{max-width:100%;display:block;margin:8px 0;border:1px solid #eaeef2}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "-", text.lower()).strip("-")


def table(header: list[str], rows: list[list[Any]], raw: set[int] = frozenset(), num: set[int] = frozenset()) -> str:
    """Cells are escaped, except columns in ``raw`` (already HTML); numbers and ``num`` columns right-aligned."""
    def cell(i: int, v: Any) -> str:
        cls = ' class="num"' if is_number(v) or i in num else ""
        return f"<td{cls}>{v if i in raw else esc(fmt(v))}</td>"
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(png: bytes, name: str, alt: str) -> str:
    return f'<img class="plot" data-plot="{esc(name)}" alt="{esc(alt)}" src="{data_uri(png)}">'


def flat_table(obj: Any, max_depth: int = 3) -> str:
    rows = [[k, v] for k, v in flatten(obj).items() if k.count(".") < max_depth]
    return table(["metric", "value"], rows) if rows else '<p class="note">no numbers</p>'


def render_summary(pipeline: dict[str, Any]) -> str:
    cards = []
    for path, metrics in pipeline.items():
        top = {k: v for k, v in metrics.items() if is_number(v)} if isinstance(metrics, dict) else {}
        headline = " · ".join(f"{esc(k)} <b>{esc(fmt(v))}</b>" for k, v in top.items())
        cards.append(f'<div class="card" data-metrics="{esc(path)}"><h3><code>{esc(path)}</code></h3>'
                     f'<div class="headline">{headline}</div>'
                     f"<details><summary>all figures</summary>{flat_table(metrics)}</details></div>")
    body = "".join(cards) or '<p class="note">No pipeline metrics listed in params.yaml report.metrics.</p>'
    return f'<section id="summary"><h2>Pipeline summary</h2><div class="cards">{body}</div></section>'


def render_missing(missing: list[str]) -> str:
    if not missing:
        return '<section id="missing"><h2>Missing</h2><p class="note">Nothing: every expected input is in the report.</p></section>'
    items = "".join(f"<li>{esc(line)}</li>" for line in missing)
    return (f'<section id="missing"><h2>Missing</h2><p>Not in this report yet (add each file to '
            f"<code>params.yaml</code> <code>report:</code> and <code>dvc.yaml</code> once its stage exists; "
            f"see <code>docs/report.md</code>):</p><ul>{items}</ul></section>")


def render_sample(sample: Sample, ngram: int, max_chars: int) -> str:
    ids = esc(", ".join(sample.source_ids) or "none")
    if sample.source is None:
        source = f'<span class="note">source not resolvable to a note or chunk (source ids: {ids})</span>'
        synthetic = highlight_html(sample.synthetic, "", ngram, limit=max_chars)
    else:
        source = highlight_html(sample.source, sample.synthetic, ngram, limit=max_chars)
        synthetic = highlight_html(sample.synthetic, sample.source, ngram, limit=max_chars)
    return (f'<div class="pair" data-sample="{esc(sample.id)}"><div><h4>source ({ids})</h4>{source}</div>'
            f"<div><h4>synthetic {esc(sample.id)}</h4>{synthetic}</div></div>")


def render_samples(r: RecipeInputs, ngram: int, max_chars: int) -> str:
    body = "".join(render_sample(s, ngram, max_chars) for s in r.samples)
    if not r.samples:
        body = '<p class="note">No synthetic corpus listed (params.yaml report.recipes).</p>'
    intro = (f'<p class="note">{len(r.samples)} of {r.n_records} kept records (seeded). Highlighted: '
             f"runs of {ngram}+ tokens shared verbatim (postprocess.leakage.ngram).</p>" if r.samples else "")
    return f'<section id="{slug(r.name)}-samples"><h3>Source vs synthetic</h3>{intro}{body}</section>'


def leakage_panels(quality: dict[str, Any]) -> dict[str, dict[str, dict[str, int]]]:
    """``{measure: {source: {bucket: count}}}`` from a quality metrics file, buckets in numeric order."""
    leakage = quality.get("leakage", {})
    panels: dict[str, dict[str, dict[str, int]]] = {}
    for source in ("train", "prompted_source"):
        for measure in ("longest_span", "overlap"):
            hist = leakage.get(source, {}).get(measure, {}).get("histogram")
            if hist:
                ordered = sorted(hist, key=lambda b: float(b[1:].split(",")[0]))
                panels.setdefault(measure.replace("_", " "), {})[source.replace("_", " ")] = {b: hist[b] for b in ordered}
    return panels


def mark_terms(text: str, terms: list[str]) -> str:
    """``text`` escaped, each of ``terms`` (case-insensitive) wrapped in ``<mark class="invented">``."""
    if not terms:
        return esc(text)
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    out, last = [], 0
    for m in pattern.finditer(text):
        out += [esc(text[last:m.start()]), f'<mark class="invented">{esc(m.group(0))}</mark>']
        last = m.end()
    return "".join(out) + esc(text[last:])


def invented_cell(worst: dict[str, Any]) -> str:
    """``text, text (ID, ID)``: the invented concepts as written in the record, then the KG nodes they link to."""
    terms, ids = worst.get("invented_terms") or [], worst.get("invented") or []
    if not ids:
        return "—"
    return f"{', '.join(terms)} ({', '.join(ids)})" if terms else ", ".join(ids)


def render_fidelity(q: dict[str, Any]) -> str:
    """Degeneracy strips and drops, retention/invention per template, the worst records (invented marked)."""
    d, f = q.get("degeneracy"), q.get("fidelity")
    parts = []
    if d:
        rows = [[f"stripped: {k}", v] for k, v in d.get("stripped", {}).items()]
        rows += [[f"dropped: {k}", v] for k, v in d.get("dropped", {}).items()]
        parts.append("<h4>Degeneracy</h4>" + (table(["count", "value"], rows) if rows else
                                                '<p class="note">Nothing stripped or dropped.</p>'))
    if not f:
        return "".join(parts)
    header = ["template", "records", "retained mean", "retained p50", "with invented", "invented mean",
              "with changed values", "changed values mean"]

    def row(name: str, s: dict[str, Any]) -> list[Any]:
        return [name, s.get("measured"), s.get("retained", {}).get("mean"), s.get("retained", {}).get("p50"),
                s.get("with_invented"), s.get("invented", {}).get("mean"), s.get("with_changed_values"),
                s.get("changed_values", {}).get("mean")]

    rows = [row(t, s) for t, s in f.get("templates", {}).items()] + [row("(corpus)", f.get("corpus", {}))]
    note = "" if f.get("kg_linked") else '<p class="note">No KG linked: changed values only.</p>'
    parts.append("<h4>Fidelity: KG concepts retained and invented, values changed</h4>" + note + table(header, rows))
    # the id cut to 12 characters (the full one is in metrics fidelity.worst); the invented text before its KG ids
    worst = [[w["id"][:12], w["template"], w.get("retained"), invented_cell(w),
              ", ".join(w.get("changed_values") or []) or "—", mark_terms(w.get("excerpt", ""), w.get("invented_terms") or [])]
             for w in f.get("worst", [])]
    if worst:
        parts.append('<h5>Worst records (most invented concepts and changed values, then lowest retention; '
                     'invented concepts <mark class="invented">marked</mark>)</h5>'
                     + table(["id", "template", "retained", "invented", "changed values", "excerpt"], worst, raw={5}))
    return f'<section class="fidelity">{"".join(parts)}</section>'


def render_quality(r: RecipeInputs) -> tuple[str, list[str]]:
    """The quality section and its figures (kept apart so the plots section can hold them)."""
    q = r.quality
    if q is None:
        return (f'<section id="{slug(r.name)}-quality"><h3>Quality</h3><p class="note">No quality metrics '
                f"(metrics/quality_{esc(r.name)}.json) listed.</p></section>", [])
    c = q.get("counts", {})
    rows = [["generations", c.get("generations")], ["kept", c.get("kept")], ["kept fraction", c.get("kept_fraction")]]
    rows += [[f"rejected at generation: {k}", v] for k, v in c.get("rejected_at_generation", {}).items()]
    rows += [[f"dropped: {k}", v] for k, v in c.get("dropped", {}).items()]
    parts = [table(["count", "value"], rows)]
    stats = ["n", "mean", "p50", "p90", "p95", "p99", "max"]
    leak_rows = [[f"{src} {m}", *[q["leakage"][src][m].get(s) for s in stats]]
                 for src in ("train", "prompted_source") for m in ("longest_span", "overlap")
                 if m in q.get("leakage", {}).get(src, {})]
    if leak_rows:
        parts.append("<h4>Leakage</h4>" + table(["measure", *stats], leak_rows))
    diversity = {k: v for k, v in q.get("diversity", {}).items() if is_number(v)}
    membership = q.get("membership", {})
    extra = [[f"diversity {k}", v] for k, v in diversity.items()]
    extra += [[f"membership {k}", membership.get(k)] for k in ("auc", "auc_std", "nearest_member_share", "member_set")
              if k in membership]
    if membership.get("status"):
        extra.append(["membership status", membership["status"]])
    parts.append("<h4>Diversity and membership audit</h4>" + table(["metric", "value"], extra))
    parts.append(render_fidelity(q))
    limits = [[name, lim.get("metric"), lim.get("value"), lim.get("limit"),
               f'<span class="{esc(lim.get("status"))}">{esc(lim.get("status"))}</span>']
              for name, lim in q.get("limits", {}).items()]
    if limits:
        parts.append("<h4>Limits</h4>" + table(["limit", "metric", "value", "limit value", "status"], limits, raw={4}))
    panels = leakage_panels(q)
    figures = [figure(histogram_png(panels, f"{r.name}: leakage"), f"{r.name}-leakage", "leakage histogram")] if panels else []
    return f'<section id="{slug(r.name)}-quality"><h3>Quality</h3>{"".join(parts)}</section>', figures


def comparison_table(comparisons: list[Comparison]) -> str:
    rows = []
    for c in comparisons:
        rel = f" ({100 * c.relative:+.1f}%)" if c.relative is not None else ""
        arrow = "lower is better" if c.is_lower_better else "higher is better"
        rows.append([esc(c.metric), esc(fmt(c.baseline)), esc(fmt(c.augmented)),
                     f'<span class="{c.verdict}" title="{arrow}">{esc(f"{c.delta:+.4g}{rel}")}</span>'])
    return table(["metric", "baseline", "augmented", "Δ augmented − baseline"], rows, raw={0, 1, 2, 3}, num={1, 2, 3})


def render_downstream(r: RecipeInputs, lower_is_better: list[str]) -> tuple[str, list[str]]:
    parts, figures = [], []
    for path, metrics in r.metrics.items():
        flat = flatten(metrics)
        comparisons = pair_comparisons(flat, lower_is_better)
        parts.append(f'<h4 data-metrics="{esc(path)}"><code>{esc(path)}</code></h4>')
        if comparisons:
            parts.append(comparison_table(comparisons))
            figures.append(figure(deltas_png(comparisons, f"{r.name}: {path}"), f"{r.name}-deltas-{slug(path)}",
                                  "baseline vs augmented deltas"))
        matrix = as_matrix(metrics)
        if matrix and not comparisons:
            rows, cols = matrix
            parts.append(table(["", *cols], [[row, *[metrics[row].get(col) for col in cols]] for row in rows]))
        elif rest := unpaired(flat, comparisons):
            rest_table = table(["metric", "value"], [[k, v] for k, v in rest.items()])
            parts.append(f"<details><summary>other figures ({len(rest)})</summary>{rest_table}</details>"
                         if comparisons else rest_table)
    if not parts:
        parts.append(f'<p class="note">No downstream metrics (metrics/{esc(r.name)}.json) listed.</p>')
    return f'<section id="{slug(r.name)}-downstream"><h3>Downstream metrics</h3>{"".join(parts)}</section>', figures


def plot_png(curve: Curve) -> bytes:
    """A confusion file's heatmap, any other curve file's lines."""
    return confusion_png(curve) if curve.pairs else curve_png(curve)


def render_recipe(r: RecipeInputs, inputs: ReportInputs) -> str:
    if not r.enabled:
        return (f'<section class="recipe" id="recipe-{slug(r.name)}"><h2>Recipe: {esc(r.name)}</h2>'
                f'<p class="note">Not enabled: switched off in params.yaml recipes.enabled.</p></section>')
    if not (r.quality or r.metrics or r.curves or r.samples):
        return (f'<section class="recipe" id="recipe-{slug(r.name)}"><h2>Recipe: {esc(r.name)}</h2>'
                f'<p class="note">Nothing listed yet (see <a href="#missing">Missing</a>).</p></section>')
    quality, quality_figures = render_quality(r)
    downstream, delta_figures = render_downstream(r, inputs.lower_is_better)
    curves = [figure(plot_png(c), f"{r.name}-curve-{slug(c.name)}", f"{c.name} curves") for c in r.curves]
    plots = "".join(curves + delta_figures + quality_figures) or '<p class="note">No plots.</p>'
    return (f'<section class="recipe" id="recipe-{slug(r.name)}"><h2>Recipe: {esc(r.name)}</h2>'
            f"{render_samples(r, inputs.ngram, inputs.max_chars)}{quality}{downstream}"
            f'<section id="{slug(r.name)}-plots"><h3>Plots</h3>{plots}</section></section>')


def render_timings(timings: dict[str, Any]) -> str:
    rows = [[f"{stem}.{k}", v] for stem, t in timings.items() for k, v in flatten(t).items()]
    return (f'<section id="timings"><h2>Run timings</h2><p class="note">Wall clock from metrics/timing/ '
            f"(report.include_timings): differs run to run.</p>{table(['figure', 'value'], rows)}</section>")


def leakage_rows(inputs: ReportInputs) -> list[dict[str, Any]]:
    """One row per recipe, measure and bucket, ``{bucket: "R · measure · [lo,hi)", <source>: records, ...}``,
    for the top-level ``dvc plots`` entry (y: bucket, x: train)."""
    rows = []
    for r in inputs.recipes:
        for measure, series in (leakage_panels(r.quality) if r.quality else {}).items():
            buckets = list(dict.fromkeys(b for counts in series.values() for b in counts))
            rows += [{"bucket": f"{r.name} · {measure} · {b}",
                      **{src.replace(" ", "_"): counts.get(b, 0) for src, counts in series.items()}} for b in buckets]
    return rows


def render_report(inputs: ReportInputs) -> str:
    nav = "".join(f'<a href="#recipe-{slug(r.name)}">{esc(r.name)}</a>' for r in inputs.recipes)
    pipeline_curves = "".join(figure(plot_png(c), f"pipeline-curve-{slug(c.name)}", f"{c.name} curves")
                              for c in inputs.pipeline_curves)
    body = [
        "<header><h1>clinsynth report</h1><p class=\"note\">Built by <code>dvc repro report</code> "
        "(or <code>clinsynth report</code>) from the metrics files listed in <code>params.yaml</code> "
        "<code>report:</code>.</p>" + f"<nav>{nav}</nav></header>",
        render_summary(inputs.pipeline), render_missing(inputs.missing),
        *(render_recipe(r, inputs) for r in inputs.recipes),
    ]
    if pipeline_curves:
        body.append(f'<section id="pipeline-plots"><h2>Other curves</h2>{pipeline_curves}</section>')
    if inputs.timings is not None:
        body.append(render_timings(inputs.timings))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>clinsynth report</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
