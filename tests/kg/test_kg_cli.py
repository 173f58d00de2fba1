"""`clinsynth kg stats|find|show` on a graph saved from the tiny fixtures."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clinsynth.cli import app
from clinsynth.kg import KGSource, load_graph

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kg"


@pytest.fixture(scope="module")
def graph_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("kg") / "graph.json"
    load_graph([KGSource(str(FIXTURES / "tiny.ttl")), KGSource(str(FIXTURES / "tiny.obo"), node_type="Symptom")]).save(path)
    return str(path)


def test_stats_prints_counts(graph_path):
    result = CliRunner().invoke(app, ["kg", "stats", "--graph", graph_path])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:4] == ["nodes 11", "  Disease             1", "  Symptom            10", "edges 11"]
    assert "dangling references 0 {}" in lines


def test_find_and_show(graph_path):
    result = CliRunner().invoke(app, ["kg", "find", "weight loss", "--graph", graph_path])
    assert result.output == "HP:0001824\tSymptom\tWeight loss\n"
    assert CliRunner().invoke(app, ["kg", "find", "nothing", "--graph", graph_path]).exit_code == 1
    shown = CliRunner().invoke(app, ["kg", "show", "ICD10CM:E11.9", "--graph", graph_path])
    assert '"symptoms": [\n    "HP:0001824"\n  ]' in shown.output
