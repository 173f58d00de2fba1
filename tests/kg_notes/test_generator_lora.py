"""finetune_generator's pairs: pairs_with_symptoms comes from the template variables, not the template's wording."""

import shutil
from pathlib import Path

from clinsynth.prompting import load_template
from clinsynth.training import generator_lora as kc
from clinsynth.training.generator_lora import FinetuneGeneratorConfig, finetune_pairs
from clinsynth.training.lora import LoraTrainConfig

ROOT = Path(__file__).resolve().parents[2]


def config(template: str) -> FinetuneGeneratorConfig:
    return FinetuneGeneratorConfig(base_model="unused", template=template, max_pairs=0, out_dir="unused",
                                   train=LoraTrainConfig())


def test_pairs_with_symptoms_survive_rewording_the_template(tmp_path, notes, tiny_kg):
    (tmp_path / "kg_notes").mkdir()
    shutil.copy(ROOT / "prompts/kg_notes/full.v1.j2", tmp_path / "kg_notes/full.v1.j2")
    reworded = (ROOT / "prompts/kg_notes/full.v1.j2").read_text(encoding="utf-8").replace("The patient reports:", "Symptoms:")
    (tmp_path / "kg_notes/reworded.v1.j2").write_text(reworded, encoding="utf-8")
    expected = sum(bool(kc.finetune_vars(n, tiny_kg, notes, kc.ResolveConfig())["symptoms"])
                   for n in kc.select_finetune_notes(notes, 0, "train", 1))
    assert expected > 0
    for name in ("kg_notes.full.v1", "kg_notes.reworded.v1"):
        built = finetune_pairs(notes, tiny_kg, load_template(tmp_path, name), config(name), 1)
        assert len(built.pairs) == 4 and built.with_symptoms == expected
        assert all(p.messages[-1]["role"] == "user" for p in built.pairs)
    # the old figure, for the template the pipeline uses: "reports:" appears exactly where symptoms are listed
    built = finetune_pairs(notes, tiny_kg, load_template(tmp_path, "kg_notes.full.v1"), config("kg_notes.full.v1"), 1)
    assert built.with_symptoms == sum("reports:" in p.messages[-1]["content"] for p in built.pairs)
