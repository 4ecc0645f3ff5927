"""Calibration parts: the spec (:mod:`.spec`), one particle's run and distance
(:mod:`.simulator`) and the results written (:mod:`.outputs`); the ABC-SMC run itself is
:mod:`habsburg.experiments.calibrate`."""
