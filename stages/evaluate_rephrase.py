"""Stage evaluate_rephrase: per-corpus pretrain metrics -> metrics/rephrase.json (one row per corpus) and the
training-loss curves metrics/plots/rephrase_loss.json (decoder), rephrase_mlm_loss.json (encoder) for `dvc plots`."""

from __future__ import annotations

from pathlib import Path

from clinsynth.evaluation.perplexity import EvaluateRephraseConfig, loss_curves, rephrase_table
from clinsynth.params import load_params
from clinsynth.records import read_json, write_json
from clinsynth.pretraining.corpora import SplitRephraseCorporaConfig  # the corpus list has one home


def main() -> None:
    cfg = load_params("evaluate_rephrase", EvaluateRephraseConfig)
    names = load_params("split_rephrase_corpora", SplitRephraseCorporaConfig).corpora
    per_corpus = {n: read_json(Path(cfg.corpus_metrics_dir) / f"{n}.json") for n in names}
    histories = {n: read_json(Path(cfg.models_dir) / n / "history.json") for n in names}
    table = rephrase_table(per_corpus)
    write_json(cfg.table, table)
    for key, plot, level in (("decoder", cfg.decoder_plot, "test_mean_nll"), ("encoder", cfg.encoder_plot, "mlm_loss")):
        flat = {n: m[key][level] for n, m in per_corpus.items()}  # the `none` series: its held-out level
        write_json(plot, loss_curves({n: h[key] for n, h in histories.items()}, flat))
    for name, row in table.items():
        print(f"evaluate_rephrase: {name:40s} decoder ppl {row['decoder_perplexity']:10.4f}  "
              f"encoder MLM loss {row['encoder_mlm_loss']:.4f}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
