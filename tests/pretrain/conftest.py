import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pretrain"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def chunks() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "chunks.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session")
def word_tokenizer(chunks):
    """A whitespace word-level fast tokenizer over the fixture words, built offline; eos/sep/mask specials."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for c in chunks for w in c["text"].split()} | {"The", "patient", "Cough", "and", "fever;",
                                                                      "hypertension."})
    specials = ["[UNK]", "[PAD]", "<eos>", "[SEP]", "[MASK]", "[CLS]"]
    vocab = {tok: i for i, tok in enumerate(specials + words)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", eos_token="<eos>",
                                   sep_token="[SEP]", mask_token="[MASK]", cls_token="[CLS]")
