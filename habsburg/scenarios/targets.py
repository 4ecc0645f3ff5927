"""Published measurements the simulator is calibrated to (V4 and V5, README "Validation"), declared once.

These are *calibration targets*: the baseline's parameters were chosen so the simulator matches
them (the web shares fix the demand curve, the detection rates fix the watermark entropy law), so
a run that reproduces them is a calibration, not evidence. The validation suite checks them, the report and the viz draw them beside a run.
"""

from __future__ import annotations

#: who measured the web shares (detector-based, on Common Crawl samples of new English articles)
WEB_STUDY_NAME = "Graphite"
WEB_STUDY_SOURCE = f"{WEB_STUDY_NAME} (Common Crawl)"
#: measured AI share of new English web articles by months after the first mass-market chatbot
#: (Nov 2022): about 36% at +12 months and 48% at +24 (V5)
WEB_STUDY: dict[int, float] = {12: 0.36, 24: 0.48}
#: the plateau the same study reports after about two years, and from which month on
WEB_STUDY_PLATEAU = 0.50
WEB_STUDY_PLATEAU_FROM = 24

#: where the watermark detection rates come from
WATERMARK_TPR_SOURCE = "Kirchenbauer et al. 2024 (reliability data)"
#: the false-positive rate the reference detection rates are given at
WATERMARK_TPR_FPR = 1e-3
#: reference true-positive rate at 0.1% FPR by text length in tokens, "On the Reliability of
#: Watermarks" (γ = 0.25, δ = 2, LLaMA on C4; V4)
WATERMARK_REFERENCE_TPR: dict[int, float] = {50: 0.77, 100: 0.93, 200: 0.98}
