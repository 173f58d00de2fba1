"""BRAT standoff, complete and exact: parse/format/validate, corpora, inline markup for LLM rewriting, P/R/F1.

Offsets are ``[start, end)`` Python ``str`` indices into the ``.txt`` read with ``newline=''``.
Importing this package does not import spaCy or torch.
"""

from clinsynth.brat.corpus import (CorpusReadResult, read_corpus, read_document, read_document_lenient,
                                   validate_corpus, write_document)
from clinsynth.brat.decode import (REJECTION_REASONS, CorpusDecodeResult, DecodedSegment, DecodeRejection,
                                   decode_corpus, decode_segment, strip_wrapping)
from clinsynth.brat.inline import (SKIP_REASONS, EncodedSegment, EncodeResult, MarkupError, encode_segments,
                                   encode_span, find_segments, parse_marks, split_sentences)
from clinsynth.brat.metrics import PRF, Scores, score_entities, score_relations
from clinsynth.brat.model import (AnnLayout, Attribute, Document, Entity, Equivalence, Event, Normalization,
                                  Note, Relation)
from clinsynth.brat.standoff import (ISSUE_KINDS, BratFormatError, BratIssue, format_ann, format_ann_line,
                                     parse_ann, parse_ann_line, parse_ann_lenient)
from clinsynth.brat.validation import check_document, validate_document

__all__ = [
    "AnnLayout", "Attribute", "BratFormatError", "BratIssue", "CorpusDecodeResult", "CorpusReadResult",
    "DecodeRejection", "DecodedSegment", "Document", "EncodeResult", "EncodedSegment", "Entity", "Equivalence",
    "Event", "ISSUE_KINDS", "MarkupError", "Normalization", "Note", "PRF", "REJECTION_REASONS", "Relation",
    "SKIP_REASONS", "Scores", "check_document", "decode_corpus", "decode_segment", "encode_segments", "encode_span",
    "find_segments", "format_ann", "format_ann_line", "parse_ann", "parse_ann_line", "parse_ann_lenient",
    "parse_marks", "read_corpus", "read_document", "read_document_lenient", "score_entities", "score_relations",
    "split_sentences", "strip_wrapping", "validate_corpus", "validate_document", "write_document",
]
