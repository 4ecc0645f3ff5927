"""Post-run analysis: pure functions of result tables (never runs a simulation). The run reader
(``results``), one run's analysis (``run_analysis``), convergence, cascades, watermark filters,
tails, and confidence intervals over seeds (``stats``)."""
