"""Text mode: the ecosystem's mechanisms on real tokens.

A real human corpus (:mod:`.corpus`), n-gram language models that learn and generate
(:mod:`.ngram`), Kirchenbauer et al.'s green-list watermark on token ids, paraphrase attacks and
a perplexity-based AI-text classifier (:mod:`.detect`), a flat token store with per-token
provenance (:mod:`.store`) and the collapse metrics (:mod:`.metrics`). Nothing here imports Mesa.
"""
