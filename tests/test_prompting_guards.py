"""Templates may guard an optional variable with `is defined` or `| default` (issue 17)."""

from pathlib import Path

import pytest

from clinsynth.prompting import TemplateError, load_template, render_messages, template_path


def template(tmp_path: Path, text: str, name: str = "demo.guard.v1"):
    path = template_path(tmp_path, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_template(tmp_path, name)


GUARDED = ("{% block user %}Rewrite {{ text }}{% if audience is defined %} for {{ audience }}{% endif %}"
           "{% if style is not defined %} plainly{% endif %}{{ suffix | default('.') }}{% endblock %}")


@pytest.mark.parametrize("variables, expected", [
    ({"text": "x"}, "Rewrite x plainly."),
    ({"text": "x", "audience": "nurses", "style": "terse", "suffix": "!"}, "Rewrite x for nurses!"),
])
def test_guarded_variables_may_be_absent(tmp_path, variables, expected):
    assert render_messages(template(tmp_path, GUARDED), variables)[0].content == expected


def test_an_unguarded_use_of_a_guarded_variable_still_fails_naming_it(tmp_path):
    tpl = template(tmp_path, "{% block user %}{% if audience is defined %}for {{ audience }}{% endif %} "
                             "and again {{ audience }}{% endblock %}")
    with pytest.raises(TemplateError) as err:
        render_messages(tpl, {})
    assert str(err.value) == (f"demo.guard.v1 ({tpl.path}): undefined variable 'audience' "
                              "('audience' is undefined)")


def test_an_unguarded_missing_variable_is_still_caught_before_rendering(tmp_path):
    tpl = template(tmp_path, "{% block user %}{% if audience is defined %}{{ audience }}{% endif %}{{ tone }}{% endblock %}")
    with pytest.raises(TemplateError) as err:
        render_messages(tpl, {"text": "x"})
    assert str(err.value) == f"demo.guard.v1 ({tpl.path}): undefined variable 'tone'; the recipe supplies ['text']"
