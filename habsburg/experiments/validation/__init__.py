"""Scientific validation: the published results V1–V6 (README, "Validation"), reproduced by the very code
the simulation runs — ``StyleLearner`` and ``ConceptLearner`` (habsburg/ecosystem/learners.py),
the ``WatermarkScheme`` (habsburg/ecosystem/watermark.py) and the calibrated ``baseline`` scenario.

Checks are data (:mod:`.checks`): each names an *experiment* (:mod:`.experiments`: one controlled
loop, run once, that returns named estimates with their Monte Carlo standard errors), the
closed-form (:mod:`.closedforms`) or published value it expects, a tolerance rule
(:mod:`.framework`) and whether it is evidence or calibration. :mod:`.runner` runs them,
:mod:`.output` prints and writes the tables; :mod:`.repeat` runs the suite over many seeds and
tests whether a row fails more often than its level allows. ``--quick`` runs fewer replicates;
the rules that carry a fixed tolerance then add three standard errors of the smaller Monte
Carlo, and the rules made of statistics (standard errors, binomial intervals) widen by
themselves.
"""
