"""Text mode: the ecosystem's mechanisms on real tokens.

A real human corpus (:mod:`.corpus`), n-gram language models that learn and generate
(:mod:`.ngram`), Kirchenbauer et al.'s green-list watermark on token ids and paraphrase attacks
(:mod:`.watermark`), a perplexity-based AI-text classifier (:mod:`.classifier`), a flat token
store with per-token provenance (:mod:`.store`), concept and fact views of the text
(:mod:`.views`) and the collapse metrics (:mod:`.metrics`). Nothing here imports Mesa.
"""
