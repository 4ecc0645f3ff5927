"""The naive reference: a straightforward Mesa model of the same publishing job, one Python
object per document.

Authors are Mesa agents (the baseline's 2,000, in its 20 communities, with its productivity
spread); each month every author writes Poisson(docs_per_month × rate) documents, each a
``Document`` agent holding its tokens, concept draws (inverse-CDF from the community's mix, the
cdf computed once) and fact claims (Poisson(facts_per_doc) facts by popularity, true value
except at the error rate). It does less than habsburg (no models, farms, crawls, training) and
its per-document work is still numpy calls: the fair "what a plain agent-based model costs".
``bench_scale.py --naive`` divides habsburg's documents per CPU second by this one's.

    python benchmarks/bench_naive.py [--months 12] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import mesa
import numpy as np

from habsburg.cli.flags import COUNT
from habsburg.ecosystem.world import World
from habsburg.scenarios import load_scenario


class Document(mesa.Agent):
    """One published document."""

    def __init__(
        self,
        model: NaiveModel,
        author: int,
        tokens: int,
        concepts: np.ndarray,
        facts: np.ndarray,
        values: np.ndarray,
    ) -> None:
        super().__init__(model)
        self.author = author
        self.tokens = tokens
        self.concepts = concepts
        self.facts = facts
        self.values = values


class Author(mesa.Agent):
    def __init__(self, model: NaiveModel, community: int, rate: float) -> None:
        super().__init__(model)
        self.community = community
        self.rate = rate

    def step(self) -> None:
        m = self.model
        rng, h = m.gen, m.humans
        for _ in range(rng.poisson(h.docs_per_month * self.rate)):
            tokens = max(20, int(rng.lognormal(np.log(h.tokens_mean) - 0.125, 0.5)))
            n = max(1, round(tokens / h.tokens_per_concept))
            concepts = np.searchsorted(m.concept_cdf[self.community], rng.random(n), "right")
            facts = np.searchsorted(m.fact_cdf, rng.random(rng.poisson(h.facts_per_doc)), "right")
            values = m.true_values[facts].copy()
            wrong = rng.random(facts.size) < h.error_rate
            values[wrong] = (values[wrong] + 1) % m.values_per_fact
            m.documents.append(Document(m, self.unique_id, tokens, concepts, facts, values))


class NaiveModel(mesa.Model):
    def __init__(self, seed: int = 1) -> None:
        super().__init__(rng=seed)
        sc = load_scenario("baseline")
        self.gen = np.random.default_rng(seed)
        self.humans = sc.humans
        world = World.build(sc.world, sc.humans.authors, self.gen)
        cdf = np.cumsum(world.community_concepts, axis=1)
        self.concept_cdf = cdf / cdf[:, -1:]
        self.fact_cdf = np.cumsum(world.fact_popularity) / world.fact_popularity.sum()
        self.true_values = world.true_values
        self.values_per_fact = sc.world.values_per_fact
        self.documents: list[Document] = []
        for c, r in zip(world.author_community, world.author_rate, strict=True):
            Author(self, int(c), float(r))

    def step(self) -> None:
        self.agents_by_type[Author].shuffle_do("step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False)
    parser.add_argument("--months", type=COUNT, default=12)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = NaiveModel()
    c0 = time.process_time()
    for _ in range(args.months):
        model.step()
    cpu = time.process_time() - c0
    n = len(model.documents)
    row = {
        "naive_documents": n,
        "naive_cpu_s": round(cpu, 2),
        "documents_per_cpu_s": round(n / cpu),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(row) if args.json else row)


if __name__ == "__main__":
    main()
