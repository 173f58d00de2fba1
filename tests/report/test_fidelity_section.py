"""The report's fidelity block: per-template retention/invention and the worst records, invented marked."""

from clinsynth.report.render import mark_terms, render_fidelity

QUALITY = {
    "degeneracy": {"stripped": {"preamble": 2}, "dropped": {"repetitive": 1}},
    "fidelity": {"kg_linked": True,
                 "templates": {"rephrase.v1": {"measured": 3, "retained": {"mean": 0.6667, "p50": 1.0},
                                               "with_invented": 1, "invented": {"mean": 0.6667},
                                               "with_changed_values": 1, "changed_values": {"mean": 0.3333}}},
                 "corpus": {"measured": 3},
                 "worst": [{"id": "g2", "template": "rephrase.v1", "retained": 0.3333,
                            "invented": ["SNOMED:ejac"], "invented_terms": ["Ejaculation (disorder)"],
                            "changed_values": ["850"], "excerpt": "Has ejaculation (disorder) & more"}]},
}


def test_the_block_lists_templates_strips_and_marks_invented_terms():
    html = render_fidelity(QUALITY)
    assert "stripped: preamble" in html and "dropped: repetitive" in html
    assert "<td>rephrase.v1</td>" in html and "<td>Ejaculation (disorder) (SNOMED:ejac)</td>" in html
    assert 'Has <mark class="invented">ejaculation (disorder)</mark> &amp; more' in html


def test_mark_terms_escapes_and_prefers_longer_terms():
    assert mark_terms("a<b> gum gingivitis", ["gum", "gum gingivitis"]) == 'a&lt;b&gt; <mark class="invented">gum gingivitis</mark>'
    assert render_fidelity({}) == ""
