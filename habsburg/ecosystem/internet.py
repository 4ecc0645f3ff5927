"""The simulated internet: a seeded scale-free site graph (also Mesa's ``Network`` space) with
PageRank for crawling, plus the shared :class:`DocumentStore`."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from habsburg.ecosystem.store import DocumentStore

HUMAN_SITE, FARM_SITE, AGGREGATOR_SITE = 0, 1, 2
SITE_KIND_NAMES = ("human", "farm", "aggregator")


@dataclass
class Internet:
    """Site graph + documents. ``site_kind`` / ``site_owner`` say who runs each site."""

    graph: nx.DiGraph
    site_kind: np.ndarray
    site_owner: np.ndarray
    pagerank: np.ndarray
    indptr: np.ndarray  # CSR out-links for vectorised random walks
    indices: np.ndarray
    store: DocumentStore

    @property
    def n_sites(self) -> int:
        return len(self.site_kind)

    def sites_of(self, kind: int, owner: int | None = None) -> np.ndarray:
        mask = self.site_kind == kind
        if owner is not None:
            mask &= self.site_owner == owner
        return np.flatnonzero(mask)

    def random_walks(self, n_visits: int, walk_length: int, rng: np.random.Generator) -> np.ndarray:
        """Site visit counts of ``n_visits`` visits by random walkers started at sites drawn by
        PageRank, restarting after ``walk_length`` visits or at a site without out-links."""
        n_walkers = max(1, -(-n_visits // walk_length))
        cdf = np.cumsum(self.pagerank)
        pos = np.minimum(np.searchsorted(cdf, rng.random(n_walkers) * cdf[-1]), self.n_sites - 1)
        visits = np.zeros(self.n_sites, dtype=np.int64)
        done = 0
        deg = np.diff(self.indptr)
        for _ in range(walk_length):
            take = pos[: max(0, min(n_walkers, n_visits - done))]
            np.add.at(visits, take, 1)
            done += take.size
            if done >= n_visits:
                break
            d = deg[pos]
            hop = self.indptr[pos] + (rng.random(n_walkers) * np.maximum(d, 1)).astype(np.int64)
            restart = np.minimum(
                np.searchsorted(cdf, rng.random(n_walkers) * cdf[-1]), self.n_sites - 1
            )
            pos = np.where(d > 0, self.indices[np.minimum(hop, len(self.indices) - 1)], restart)
        return visits


def build_site_graph(
    n_human_sites: int,
    attachment: int,
    farm_sites: list[int],
    farm_link_spam: list[int],
    aggregator_sites: list[int],
    rng: np.random.Generator,
) -> tuple[nx.DiGraph, np.ndarray, np.ndarray]:
    """Barabási–Albert web of human sites (links both ways), farm sites with link spam (links
    from random human sites into them, and a link farm among each farm's sites), and aggregator
    sites linking out to popular sites. Seeded from ``rng``."""
    seed = int(rng.integers(2**31 - 1))
    m = min(attachment, max(1, n_human_sites - 1))
    base = nx.barabasi_albert_graph(n_human_sites, m, seed=seed)
    G = nx.DiGraph(base)  # each undirected link becomes two directed ones
    kind = [HUMAN_SITE] * n_human_sites
    owner = [-1] * n_human_sites
    nxt = n_human_sites
    for f, (n_sites, spam) in enumerate(zip(farm_sites, farm_link_spam, strict=True)):
        ids = list(range(nxt, nxt + n_sites))
        G.add_nodes_from(ids)
        for a in ids:
            for b in ids:
                if a != b:
                    G.add_edge(a, b)
            for src in rng.integers(0, n_human_sites, size=spam):
                G.add_edge(int(src), a)
            G.add_edge(a, int(rng.integers(0, n_human_sites)))
        kind += [FARM_SITE] * n_sites
        owner += [f] * n_sites
        nxt += n_sites
    degree = np.array([d for _, d in sorted(base.degree())], dtype=float)
    popular = degree / degree.sum()
    for s, n_sites in enumerate(aggregator_sites):
        ids = list(range(nxt, nxt + n_sites))
        G.add_nodes_from(ids)
        for a in ids:
            # Aggregators link out to popular sites and are linked from them (they rank well).
            for dst in rng.choice(
                n_human_sites, size=min(5, n_human_sites), replace=False, p=popular
            ):
                G.add_edge(a, int(dst))
                G.add_edge(int(dst), a)
        kind += [AGGREGATOR_SITE] * n_sites
        owner += [s] * n_sites
        nxt += n_sites
    return G, np.asarray(kind, dtype=np.int8), np.asarray(owner, dtype=np.int32)


def csr(G: nx.DiGraph) -> tuple[np.ndarray, np.ndarray]:
    n = G.number_of_nodes()
    edges = np.array(sorted(G.edges()), dtype=np.int64).reshape(-1, 2)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, edges[:, 0] + 1, 1)
    return np.cumsum(indptr), edges[:, 1].copy()


def pagerank(G: nx.DiGraph) -> np.ndarray:
    pr = nx.pagerank(G, alpha=0.85)
    return np.array([pr[i] for i in range(G.number_of_nodes())])
