"""Stage split_rephrase_corpora: real chunks + kept rephrase records -> one file per corpus to pretrain on.

One file per corpus (``<out_dir>/<corpus>.jsonl``), rewritten only when its content changes, so
``pretrain@rephrase-<corpus>`` reruns only when its own corpus changed (see docs/rephrase.md).
"""

from __future__ import annotations

from pathlib import Path

from clinsynth.params import load_base, load_params
from clinsynth.pretraining.corpora import build_corpora, read_rephrase_records, write_corpora
from clinsynth.records import read_jsonl, write_json
from clinsynth.pretraining.corpora import SplitRephraseCorporaConfig, corpora_metrics


def main() -> None:
    base = load_base()
    cfg = load_params("split_rephrase_corpora", SplitRephraseCorporaConfig)
    chunks = list(read_jsonl(base.paths.chunks))
    records = read_rephrase_records(cfg.records)
    corpora = build_corpora(cfg.corpora, chunks, records)
    written = write_corpora(cfg.out_dir, corpora)
    metrics = corpora_metrics(records, corpora)
    write_json(Path(base.paths.metrics) / "rephrase_corpora.json", metrics)
    print(f"split_rephrase_corpora: {len(records)} kept records, {len(corpora)} corpora, "
          f"rewritten {sorted(k for k, v in written.items() if v)}, unused sources {metrics['unused_sources']}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
