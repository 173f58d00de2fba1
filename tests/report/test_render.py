"""The page from the fixture metrics: sections, tables, escaping, figures, missing parts, determinism, errors."""

import base64
import dataclasses
import re
import subprocess
import sys

import pytest

from clinsynth.report.inputs import ReportInputError, discover, pick_samples
from clinsynth.report.render import leakage_panels, leakage_rows, render_report
from tests.report.conftest import FIXTURES, ROOT, fixture_config, load_fixture_inputs

PNG = b"\x89PNG\r\n\x1a\n"


def test_page_is_self_contained(fixture_page):
    assert fixture_page.startswith("<!DOCTYPE html>") and "<style>" in fixture_page
    assert not re.search(r'(src|href)="(?!data:image/png;base64,|#)', fixture_page)   # no external asset
    images = re.findall(r'<img class="plot" data-plot="([^"]+)" alt="[^"]*" src="data:image/png;base64,([^"]+)"', fixture_page)
    assert [name for name, _ in images] == [
        "rephrase-curve-rephrase_loss", "rephrase-leakage", "kg_notes-deltas-metrics-kg_notes-json",
        "brat_augment-curve-brat_augment_ner_loss", "brat_augment-deltas-metrics-brat_augment-json"]
    assert all(base64.b64decode(data).startswith(PNG) for _, data in images)


def test_every_section_is_present(fixture_page):
    for section in ("summary", "missing", "recipe-rephrase", "rephrase-samples", "rephrase-quality",
                    "rephrase-downstream", "rephrase-plots", "recipe-kg_notes", "recipe-brat_augment",
                    "recipe-retrieval", "recipe-fhir_qa"):
        assert f'id="{section}"' in fixture_page, section
    assert 'id="timings"' not in fixture_page


def test_summary_shows_pipeline_headlines(fixture_page):
    assert 'data-metrics="metrics/kg.json"' in fixture_page and "nodes <b>49094</b>" in fixture_page
    assert "patients <b>20</b>" in fixture_page and "chunks <b>3649</b>" in fixture_page


def test_samples_are_highlighted_and_escaped(fixture_page):
    assert ("<mark>admitted for worsening dyspnea on exertion and bilateral leg swelling over two weeks</mark>"
            in fixture_page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fixture_page and "<script>" not in fixture_page
    assert "<mark>plan: &quot;extended release&quot; metformin &amp; diabetes education in three months</mark>" in fixture_page


def test_quality_table_has_counts_percentiles_diversity_membership_limits(fixture_page):
    for text in ("<td>dropped: leakage_span</td>", "<td>rejected at generation: refusal</td>",
                 "<td>train longest_span</td>", "<td>diversity distinct_2_ratio</td>", "<td>membership status</td>",
                 '<span class="passed">passed</span>', '<span class="disabled">disabled</span>'):
        assert text in fixture_page, text


def test_comparisons_are_coloured_by_direction(fixture_page):
    row = re.search(r"<tr><td>re\.loss</td>.*?</tr>", fixture_page).group(0)
    assert 'class="better" title="lower is better">-0.1 (-11.1%)' in row
    row = re.search(r"<tr><td>ner\.strict\.precision</td>.*?</tr>", fixture_page).group(0)
    assert 'class="worse"' in row
    assert "<td>ner.lenient.f1</td>" in fixture_page and 'class="same"' in fixture_page
    assert "other figures (1)" in fixture_page              # test_documents: in no pair


def test_a_table_of_rows_is_rendered_as_a_matrix(fixture_page):
    assert "<th>decoder_perplexity</th><th>encoder_mlm_loss</th>" in fixture_page
    assert "<td>real+rephrase.general.v1</td>" in fixture_page


def test_missing_parts_are_named(fixture_inputs, fixture_page):
    assert fixture_inputs.missing[0].startswith("kg_notes: no synthetic corpus and quality metrics")
    assert any(line.startswith("retrieval:") and "metrics/retrieval.json: not in report.metrics" in line
               for line in fixture_inputs.missing)
    assert "fhir_qa: no synthetic corpus" in fixture_page


def test_leakage_histogram_buckets_are_in_numeric_order(fixture_inputs):
    rephrase = fixture_inputs.recipes[0]
    panels = leakage_panels(rephrase.quality)
    assert list(panels["longest span"]["train"]) == ["[0,8)", "[8,16)", "[16,24)", "[24,32)", "[32,64)", "[64,inf)"]
    rows = leakage_rows(fixture_inputs)
    assert rows[0] == {"bucket": "rephrase · longest span · [0,8)", "train": 4, "prompted_source": 4} and len(rows) == 12


def test_render_is_byte_identical_across_processes(fixture_page):
    code = ("import sys; sys.path.insert(0, {root!r}); from tests.report.conftest import load_fixture_inputs; "
            "from clinsynth.report.render import render_report; "
            "sys.stdout.buffer.write(render_report(load_fixture_inputs()).encode())").format(root=str(ROOT))
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=ROOT).stdout
    assert other == fixture_page.encode()


def test_timings_only_when_asked():
    inputs = load_fixture_inputs(fixture_config(include_timings=True))
    assert inputs.timings == {"quality_rephrase": {"dedup": 0.02, "leakage": 0.01}}
    assert '<section id="timings">' in render_report(inputs)


def test_unresolvable_source_is_said_not_hidden():
    inputs = load_fixture_inputs(fixture_config(samples=4, recipes=["rephrase"]))
    page = render_report(inputs)
    assert "source not resolvable to a note or chunk (source ids: KG:D1)" in page
    assert [s.id for s in inputs.recipes[0].samples] == ["g-001", "g-002", "g-003", "g-004"]


def test_samples_are_seeded_and_in_id_order():
    records = [{"id": f"g-{i:03d}", "text": "t", "source_ids": []} for i in range(50)]
    first = pick_samples(records, 3, 13, "rephrase", {})
    assert first == pick_samples(list(reversed(records)), 3, 13, "rephrase", {})
    assert [s.id for s in first] == sorted(s.id for s in first)
    assert first != pick_samples(records, 3, 14, "rephrase", {})


@pytest.mark.parametrize(("field", "value", "message"), [
    ("metrics", ["metrics/kg.json", "metrics/fhir_qa.json"], r"report\.metrics lists metrics/fhir_qa\.json, which"),
    ("plots", ["metrics/plots/nope.csv"], r"report\.plots lists metrics/plots/nope\.csv"),
    ("recipes", ["kg_notes"], r"report\.recipes lists data/synthetic/kg_notes/records\.jsonl, "
                              r"metrics/quality_kg_notes\.json, which do\(es\) not exist; run the stage"),
])
def test_a_listed_input_that_is_missing_is_an_error_naming_it(field, value, message):
    with pytest.raises(ReportInputError, match=message):
        load_fixture_inputs(fixture_config(**{field: value}))


def test_nothing_listed_still_renders_and_says_what_is_missing():
    inputs = load_fixture_inputs(fixture_config(metrics=[], plots=[], recipes=[]))
    page = render_report(inputs)
    assert "No pipeline metrics listed" in page
    assert inputs.missing[:3] == [f"pipeline: {n} (no metrics/{n}.json in report.metrics)" for n in ("demo_data", "ingest", "kg")]
    assert '<img class="plot"' not in page


def test_discover_lists_everything_present():
    cfg = discover(fixture_config(metrics=[], plots=[], recipes=[]), FIXTURES / "metrics", FIXTURES / "data/synthetic")
    assert [p.rsplit("/", 1)[1] for p in cfg.metrics] == ["brat_augment.json", "demo_data.json", "ingest.json", "kg.json",
                                                         "kg_notes.json", "quality_rephrase.json", "rephrase.json"]
    assert [p.rsplit("/", 1)[1] for p in cfg.plots] == ["brat_augment_ner_loss.csv", "rephrase_loss.json"]
    assert cfg.recipes == ["rephrase"]
    assert dataclasses.replace(cfg, metrics=[], plots=[], recipes=[]) == fixture_config(metrics=[], plots=[], recipes=[])


def test_the_page_opens_with_the_paired_verdicts(fixture_inputs):
    from clinsynth.evaluation.paired import paired_bootstrap

    base = [[0.5, 0.6, 0.4, 0.7, 0.5, 0.6, 0.3, 0.8]] * 3
    entry = paired_bootstrap(base, [[v - 0.1 for v in row] for row in base], metric="strict_f1").to_json()
    recipes = [dataclasses.replace(r, metrics={**r.metrics, "metrics/x.json": {"ner": {"paired": {"f1": entry}}}})
               if r.name == "brat_augment" else r for r in fixture_inputs.recipes]
    page = render_report(dataclasses.replace(fixture_inputs, recipes=recipes))
    sections = re.findall(r'<section[^>]* id="([^"]+)"', page)
    assert sections[0] == "verdicts"
    verdicts = page.split('id="verdicts"')[1].split("</section>")[0]
    assert "<code>ner.paired.f1</code>" in verdicts and '<span class="worse">hurts</span>' in verdicts
    assert "3 × 8" in verdicts
    assert "No metrics file listed holds a paired comparison" in render_report(fixture_inputs)
