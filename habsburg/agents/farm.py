"""Content farms: mass-produce through the cheapest model on their own link-spammed sites."""

from __future__ import annotations

import mesa
from mesa.discrete_space import CellAgent

from habsburg.agents.ids import MODEL_IDS
from habsburg.ecosystem.edits import EditProcess
from habsburg.ecosystem.internet import FARM_SITE
from habsburg.ecosystem.publishing import adoption_level
from habsburg.ecosystem.store import FARM
from habsburg.scenarios.schema import FarmConfig


class ContentFarm(CellAgent):
    """A content farm on its first site in the site-graph space."""

    _ids = MODEL_IDS  # unique_id counters that let a finished model go (agents/ids.py)

    def __init__(self, model: mesa.Model, config: FarmConfig, index: int) -> None:
        super().__init__(model)
        self.config = config
        self.index = index
        self.sites = model.internet.sites_of(FARM_SITE, index)
        self.cell = model.space[int(self.sites[0])]
        self.docs_published = 0
        self.model_used = -1

    @property
    def name(self) -> str:
        return self.config.name

    def output(self) -> float:
        sc = self.model.config
        curve = self.config.output
        return adoption_level(curve, self.model.month - sc.month_to_step(curve.start))

    def publish(self) -> None:
        """Mass-produce documents through the cheapest deployed model; paraphrase a share of them
        (which erodes watermark evidence)."""
        m = self.model
        deployed = m.deployed_models()
        if not deployed:
            return
        n = int(m.rng.poisson(self.output()))
        if n == 0:
            return
        cheapest = min(deployed, key=lambda a: (a.config.cost, a.index))
        self.model_used = cheapest.index
        c = self.config
        batch = cheapest.compose(
            n,
            self.sites,
            FARM,
            self.index,
            tokens_mean=c.tokens_mean,
            quality_mean=c.quality_mean,
            paraphrase_share=c.paraphrase_share,
            paraphrase_rate=c.paraphrase_rate,
            paraphrase_edits=EditProcess(
                c.paraphrase_edits.span_length, c.paraphrase_edits.random_share
            ),
        )
        m.publish(batch)
        self.docs_published += n
