"""clinsynth.retrieval: dense retrieval over a patient's note chunks (DR.EHR-style), judged against BM25.

Modules (torch is imported only by ``encoder``, ``train``, ``losses`` and ``evaluation``):

* ``matcher``: KG names -> node ids over token n-grams (``EntityMatcher``, ``tokenize``);
* ``knowledge``: relevance concepts (names, equivalents, is_a ancestors) and clean query names;
* ``abbreviations``: the curated abbreviation table for evaluation queries;
* ``pairs``: stage I (KG expansion) and stage II (LLM entity lists) training pairs;
* ``queryset``: the held-out queries from the test patients' records, with relevant chunks;
* ``losses``: multi-similarity and InfoNCE over in-batch negatives;
* ``encoder`` / ``train``: mean-pooled bi-encoder, two-stage training with a ``model_factory``;
* ``metrics`` / ``evaluation``: MRR, MAP, Recall@k; per-patient BM25 and dense search.

Formats, stages and measured figures: docs/retrieval.md.
"""
