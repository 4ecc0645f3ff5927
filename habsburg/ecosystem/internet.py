"""The simulated internet: a seeded scale-free site graph (also Mesa's ``Network`` space) with
PageRank for crawling, plus the shared :class:`DocumentStore`.

``Internet.recent_cells`` hands crawlers the documents of a window of months grouped by (month,
site) in one array: the months before the current one are fixed once it has begun, so they are
joined once per month and shared by every scraper; only the current month (which grows as
scrapers repost) is refreshed per crawl."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    #: the past months of each crawl window (by window length), for the current month only
    _recent: dict[int, _PastMonths] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict:
        """Checkpoints leave out the crawl-window cache (rebuilt on demand)."""
        state = self.__dict__.copy()
        del state["_recent"]
        state.pop("_walk", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._recent = {}

    @property
    def n_sites(self) -> int:
        return len(self.site_kind)

    def sites_of(self, kind: int, owner: int | None = None) -> np.ndarray:
        mask = self.site_kind == kind
        if owner is not None:
            mask &= self.site_owner == owner
        return np.flatnonzero(mask)

    def recent_cells(
        self, t: int, months: int, sites: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Documents of ``sites`` from months ``t, t-1, .., t-months+1`` grouped by (age, site):
        ``(rows, offsets, counts)`` with the rows of ``sites[i]`` published ``a`` months before
        ``t`` at ``rows[offsets[a, i] : offsets[a, i] + counts[a, i]]`` (each cell in the store's
        site-index order). ``rows`` is a view of a buffer that the next call overwrites.

        One buffer serves every window: it joins the past months of the longest window the
        store keeps (or of ``months``, if longer), and shorter windows read its first ages."""
        store, n_sites = self.store, self.n_sites
        past_stop = store.step_slice(t, t).start  # rows before month t never change again
        span = max(months, min(store.site_window or months, t + 1))
        past = self._recent.get(t)
        if past is None or past.key != (t, id(store), past_stop) or past.months < months:
            self._recent.clear()
            past = self._recent[t] = _PastMonths.build(store, t, span, n_sites, past_stop)
        rows_now, starts_now = store.site_index(t, n_sites)
        n_past, n_now = past.n_rows, rows_now.size
        if past.buffer.size < n_past + n_now or not np.can_cast(rows_now.dtype, past.buffer.dtype):
            past.grow(store, n_past + 2 * n_now + 1024, rows_now.dtype)
        past.buffer[n_past : n_past + n_now] = rows_now
        offsets = np.empty((months, sites.size), dtype=np.int64)
        counts = np.empty((months, sites.size), dtype=np.int64)
        offsets[0] = n_past + starts_now[sites]
        counts[0] = starts_now[sites + 1] - starts_now[sites]
        offsets[1:] = past.offsets[: months - 1, sites]
        counts[1:] = past.counts[: months - 1, sites]
        return past.buffer[: n_past + n_now], offsets, counts

    def random_walks(self, n_visits: int, walk_length: int, rng: np.random.Generator) -> np.ndarray:
        """Site visit counts of ``n_visits`` visits by random walkers started at sites drawn by
        PageRank, restarting after ``walk_length`` visits or at a site without out-links."""
        n_walkers = max(1, -(-n_visits // walk_length))
        cdf, deg = self._walk_tables()
        last = self.n_sites - 1
        pos = np.minimum(np.searchsorted(cdf, rng.random(n_walkers) * cdf[-1]), last)
        # Visits made at each step; every step but the one that completes the budget then draws
        # a hop and a restart per walker: all those uniforms are drawn at once (same stream).
        takes, done = [], 0
        for _ in range(walk_length):
            takes.append(max(0, min(n_walkers, n_visits - done)))
            done += takes[-1]
            if done >= n_visits:
                break
        moves = len(takes) - (done >= n_visits)
        u = rng.random(2 * n_walkers * moves).reshape(moves, 2, n_walkers)
        restart = np.minimum(np.searchsorted(cdf, u[:, 1] * cdf[-1]), last)
        visited = [pos[: takes[0]]]
        for i in range(moves):
            d = deg[pos]
            hop = self.indptr[pos] + (u[i, 0] * np.maximum(d, 1)).astype(np.int64)
            pos = np.where(d > 0, self.indices[np.minimum(hop, len(self.indices) - 1)], restart[i])
            if i + 1 < len(takes):
                visited.append(pos[: takes[i + 1]])
        return np.bincount(np.concatenate(visited), minlength=self.n_sites).astype(np.int64)

    def _walk_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """PageRank's cumulative sum and each site's out-degree (the graph is fixed)."""
        tables = self.__dict__.get("_walk")
        if tables is None or tables[0] is not self.pagerank or tables[1] is not self.indptr:
            tables = self._walk = (
                self.pagerank,
                self.indptr,
                np.cumsum(self.pagerank),
                np.diff(self.indptr),
            )
        return tables[2], tables[3]


def build_site_graph(
    n_human_sites: int,
    attachment: int,
    farm_sites: list[int],
    farm_link_spam: list[int],
    aggregator_sites: list[int],
    rng: np.random.Generator,
    farm_link_farm_size: list[int] | None = None,
) -> tuple[nx.DiGraph, np.ndarray, np.ndarray]:
    """Barabási–Albert web of human sites (links both ways), farm sites with link spam
    (``farm_link_spam[f]`` links from random human sites into each site of farm ``f``, and link
    farms: consecutive groups of ``farm_link_farm_size[f]`` of its sites, 0 for all of them, each
    site linking to every other of its group), and aggregator sites linking out to popular
    sites. Seeded from ``rng``; the group size draws no random numbers."""
    seed = int(rng.integers(2**31 - 1))
    m = min(attachment, max(1, n_human_sites - 1))
    base = nx.barabasi_albert_graph(n_human_sites, m, seed=seed)
    G = nx.DiGraph(base)  # each undirected link becomes two directed ones
    kind = [HUMAN_SITE] * n_human_sites
    owner = [-1] * n_human_sites
    nxt = n_human_sites
    group_sizes = farm_link_farm_size or [0] * len(farm_sites)
    for f, (n_sites, spam, group) in enumerate(
        zip(farm_sites, farm_link_spam, group_sizes, strict=True)
    ):
        ids = list(range(nxt, nxt + n_sites))
        G.add_nodes_from(ids)
        group = group or n_sites
        for a in ids:
            first = nxt + (a - nxt) // group * group
            for b in range(first, min(first + group, nxt + n_sites)):
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


@dataclass
class _PastMonths:
    """Months ``t-1 .. t-months+1`` of the site index joined into one buffer (room left at the
    end for month ``t``'s rows), with each (age, site) cell's offset and count (ages from 1).
    The store's site index then keeps those months as views of the buffer, so their rows are
    held once (:meth:`~habsburg.ecosystem.store.DocumentStore.share_site_rows`)."""

    key: tuple[int, int, int]
    months: int
    buffer: np.ndarray
    n_rows: int
    offsets: np.ndarray
    counts: np.ndarray

    @classmethod
    def build(
        cls, store: DocumentStore, t: int, months: int, n_sites: int, past_stop: int
    ) -> _PastMonths:
        index = [store.site_index(t - a, n_sites) for a in range(1, months)]
        n_rows = sum(rows.size for rows, _ in index)
        dtype = index[0][0].dtype if index else np.int64
        room = 2 * index[0][0].size + 1024 if index else 1024  # month t: ~ month t-1
        buffer = np.empty(n_rows + room, dtype=dtype)
        offsets = np.zeros((months - 1, n_sites), dtype=np.int64)
        counts = np.zeros((months - 1, n_sites), dtype=np.int64)
        at = 0
        for i, (rows, starts) in enumerate(index):
            buffer[at : at + rows.size] = rows
            offsets[i] = at + starts[:-1]
            counts[i] = np.diff(starts)
            at += rows.size
        del index
        past = cls((t, id(store), past_stop), months, buffer, n_rows, offsets, counts)
        past.share(store)
        return past

    def grow(self, store: DocumentStore, size: int, dtype: np.dtype) -> None:
        """A larger buffer (or one of a wider type) with the past months copied over."""
        grown = np.empty(size, dtype=np.result_type(self.buffer.dtype, dtype))
        grown[: self.n_rows] = self.buffer[: self.n_rows]
        self.buffer = grown
        self.share(store)

    def share(self, store: DocumentStore) -> None:
        """Point the store's site index of the past months at their rows in the buffer."""
        t = self.key[0]
        for age in range(1, self.months):
            first = int(self.offsets[age - 1, 0])
            size = int(self.counts[age - 1].sum())
            store.share_site_rows(t - age, self.buffer[first : first + size])
