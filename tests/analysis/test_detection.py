"""The detection analysis splits the ROC by pure / hybrid / paraphrased documents."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from habsburg.analysis.detection import auc_table, document_group, recall_at, roc_by_group
from habsburg.ecosystem.detectors import DetectorModel
from habsburg.ecosystem.watermark import WatermarkScheme


def synthetic_sample(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A z_samples-like table drawn from the project's own scheme and score model."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 4, n)  # human, pure, hybrid, paraphrased
    sf = np.select([kind == 0, kind == 2], [0.0, 0.3], 1.0)
    para = np.where(kind == 3, 0.4, 0.0)
    tokens = np.full(n, 400)
    scheme = WatermarkScheme()
    wm = np.rint(sf * tokens).astype(np.int64)
    green = scheme.draw_green_counts(tokens, wm, rng, paraphrase=para)
    ids = np.arange(n)
    return pd.DataFrame(
        {
            "z": scheme.z_scores(green, tokens),
            "classifier_score": DetectorModel().scores(sf, tokens, para, ids),
            "paraphrase": para,
            "tokens": tokens,
            "synthetic_fraction": sf,
        }
    )


def test_groups_and_per_group_auc_order():
    z = synthetic_sample()
    assert set(document_group(z)) == {"human", "pure", "hybrid", "paraphrased"}
    curves = roc_by_group(z)
    assert set(curves["detector"]) == {"watermark z-test", "AI-text classifier"}
    table = auc_table(curves)
    assert set(table.index) == {"watermark z-test", "AI-text classifier"}
    assert list(table.columns) == ["pure", "hybrid", "paraphrased"]
    for detector in table.index:
        row = table.loc[detector]
        assert row["pure"] > row["paraphrased"] > 0.5, detector
        assert row["pure"] > row["hybrid"] > 0.5, detector
    # each AUC is the Mann–Whitney statistic U / (n⁺ n⁻) of the group against the human documents
    group = document_group(z)
    human = group == "human"
    for column, detector in (("z", "watermark z-test"), ("classifier_score", "AI-text classifier")):
        for name in ("pure", "hybrid", "paraphrased"):
            members = group == name
            u = stats.mannwhitneyu(z.loc[members, column], z.loc[human, column]).statistic
            expected = u / (members.sum() * human.sum())
            assert table.loc[detector, name] == pytest.approx(expected, abs=1e-12), (detector, name)
    rates = recall_at(z, "classifier_score", DetectorModel.threshold(0.05))
    assert rates["human"] < 0.1 and rates["pure"] > rates["paraphrased"]


def test_without_human_documents_there_is_no_curve():
    z = synthetic_sample()
    z = z[z["synthetic_fraction"] > 0]
    assert roc_by_group(z).empty and auc_table(roc_by_group(z)).empty
