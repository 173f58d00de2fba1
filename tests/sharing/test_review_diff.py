from clinsynth.review import MetricChange, augmentation_effects, recipe_of, render_markdown, review_diff



def test_recipe_grouping_by_metrics_file_name():
    assert recipe_of("metrics/quality_rephrase.json") == "rephrase"
    assert recipe_of("metrics/generate_kg_notes.json") == "kg_notes"
    assert recipe_of("metrics/kg.json") == "pipeline"


def test_markdown_table_and_augmentation_effect():
    changes = [MetricChange("metrics/brat_augment.json", "ner.baseline.f1", 0.5, 0.5),
               MetricChange("metrics/brat_augment.json", "ner.augmented.f1", 0.55, 0.6)]
    assert augmentation_effects(changes) == [("metrics/brat_augment.json", "ner.augmented.f1", 0.5, 0.6)]
    md = render_markdown(changes[1:], {}, "main", "pr")
    assert "| metrics/brat_augment.json | `ner.augmented.f1` | 0.55 | 0.6 | +0.05 |" in md


def test_editing_one_prompt_shows_exactly_the_metrics_it_changed(toy_repo, sh):
    prompt = toy_repo / "prompts/rephrase/general.v1.j2"
    prompt.write_text("Rewrite this clinical note in plain words, keeping every fact: {{ text }}\n")
    sh.run([sh.dvc, "repro", "-q"], toy_repo)
    sh.commit(toy_repo, "edit the general prompt")

    md = review_diff("HEAD~1", "HEAD", repo=toy_repo)
    assert "### rephrase" in md and "### brat_augment" in md
    assert "`general.v1.chars`" in md
    assert "medical.v1" not in md and "style.v1" not in md  # untouched prompts: unchanged metrics
    assert "pipeline" not in md  # kg.json did not change
    assert "`ner.augmented.f1`" in md and "`ner.baseline.f1`" not in md.split("### Augmentation")[0]
    assert "No metric changed." in review_diff("HEAD", repo=toy_repo)


def test_params_change_is_listed(toy_repo):
    params = toy_repo / "params.yaml"
    params.write_text("generate:\n  temperature: 0.9\n")
    md = review_diff("HEAD", repo=toy_repo)
    assert "| params.yaml | `generate.temperature` | 0.7 | 0.9 |" in md


def test_a_moved_verdict_is_shown_first(toy_repo, sh):
    """A paired comparison's verdict travels as a number (``direction``), so real `dvc metrics diff` sees it move."""
    import json

    from clinsynth.evaluation.paired import paired_bootstrap

    path = toy_repo / "metrics/brat_augment.json"
    base = [[0.5, 0.6, 0.4, 0.7, 0.5, 0.6]] * 2
    same = paired_bootstrap(base, base, metric="strict_f1").to_json()
    better = paired_bootstrap(base, [[v + 0.1 for v in row] for row in base], metric="strict_f1").to_json()
    path.write_text(json.dumps({"ner": {"paired": {"strict_f1": same}}}), encoding="utf-8")
    sh.commit(toy_repo, "no detectable difference")
    path.write_text(json.dumps({"ner": {"paired": {"strict_f1": better}}}), encoding="utf-8")

    md = review_diff("HEAD", repo=toy_repo)
    assert md.index("### Verdicts that moved") < md.index("### brat_augment")
    assert "| metrics/brat_augment.json | `ner.paired.strict_f1` | no detectable difference | **helps** |" in md
