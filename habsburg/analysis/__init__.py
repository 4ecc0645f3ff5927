"""Post-run analysis: convergence, cascades, watermark effectiveness, tails, plots, reports, and
the scientific validation suite (``habsburg validate``)."""
