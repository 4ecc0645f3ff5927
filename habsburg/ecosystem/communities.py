"""Louvain communities of the human sites, the same as networkx 3.6 finds, in time that scales.

The model settles each author community in a link cluster of the human web (``home_sites``),
and the clusters are Louvain communities (Blondel et al., "Fast unfolding of communities in large
networks", J. Stat. Mech. P10008, 2008). networkx's ``louvain_communities`` finds them, but at
``scaled(baseline, 100)`` (40,000 sites, 120,000 links) it took 120 CPU s, ~90% of building the
model: its first level revisits every site in every sweep until no site moves, and these
scale-free webs settle slowly: at 10× the first level takes 51 sweeps of the 4,000 sites, the
last dozen moving 0 to 11 sites each; at 100×, 240 sweeps of the 40,000.

:func:`louvain_communities` makes the same moves in the same order and returns the same
communities as networkx 3.6's function with the same integer seed (tested against it on random
graphs), and skips a visit only when it cannot change anything. A site's choice depends on the
communities of its neighbours and on the total degree (Σtot) of its own and those communities.
A site that stayed put when last visited, and since whose visit no neighbour has moved and none
of those communities has gained or lost a member, would stay put again, and that visit changes
nothing (its Σtot is taken off and put back, exactly, as degrees are integers). Each community
records the move that last changed it; a visit is skipped when no neighbour moved and every
community the site saw is older than its last visit.

What is reproduced exactly, and why it matters: the node order of each level, each site's
neighbour order (which decides ties), the shuffle of ``random.Random(seed)``, the floating-point
gains as networkx 3.6 writes them (``-k/m + γ·Σtot·k_i/(2m²)`` and so on, in the same order of
operations), the aggregated graph's edge order, and the modularity test between levels (the sum
of each community's contribution in the same order, with the interpreter's own ``sum``).
networkx 3.7 rewrote the gains in exact integer arithmetic (gh-8739), which finds other
communities from the same seed; this module keeps 3.6's, so a run's home sites no longer depend
on the installed networkx.

Only what the model needs: an undirected simple graph with integer edge weights (attribute
``weight``, default 1), resolution 1 by default, no ``max_level``.
"""

from __future__ import annotations

import random
from collections.abc import Hashable

import networkx as nx

__all__ = ["louvain_communities"]


def louvain_communities(
    graph: nx.Graph,
    seed: int,
    *,
    resolution: float = 1,
    threshold: float = 1e-07,
    skip: bool = True,
) -> list[set[Hashable]]:
    """The Louvain communities of ``graph`` that ``nx.community.louvain_communities(graph,
    seed=seed, resolution=resolution, threshold=threshold)`` returns under networkx 3.6, as a
    list of sets of nodes in the same order.

    ``skip=False`` visits every node in every sweep, as networkx does (same result, slower: for
    the tests)."""
    if graph.is_directed() or graph.is_multigraph():
        raise TypeError("louvain_communities takes an undirected simple graph (nx.Graph)")
    labels = list(graph)
    n = len(labels)
    if graph.number_of_edges() == 0:
        return [{u} for u in labels]
    index = {u: i for i, u in enumerate(labels)}
    weight_of: dict[tuple[int, int], int] = {}
    for u, v, w in graph.edges(data="weight", default=1):
        if not isinstance(w, int) or isinstance(w, bool):
            raise TypeError(f"edge ({u!r}, {v!r}) has weight {w!r}: only integer weights")
        weight_of[_key(index[u], index[v])] = w
    # networkx's first act is to copy the graph edge by edge, which reorders each node's
    # neighbours: in the copy they come in the order in which the input lists its edges.
    listed = [(u, index[v]) for u in range(n) for v in graph.adj[labels[u]] if index[v] >= u]
    level = _Level(n, _inserted(n, listed), weight_of)
    rng = random.Random(seed)
    m = sum(level.degrees) / 2  # Graph.size(weight="weight"), kept for every level

    mod = level.modularity([[i] for i in range(n)], resolution)
    node2com, _ = level.one_level(m, resolution, rng, skip)
    communities = _communities(node2com)
    members = communities
    while True:
        final = members
        new_mod = level.modularity(communities, resolution)
        if new_mod - mod <= threshold:
            break
        mod = new_mod
        level = level.aggregate(communities)
        node2com, improvement = level.one_level(m, resolution, rng, skip)
        if not improvement:
            break
        communities = _communities(node2com)
        members = [[x for node in c for x in members[node]] for c in communities]
    return [{labels[x] for x in c} for c in final]


def _key(u: int, v: int) -> tuple[int, int]:
    return (u, v) if u <= v else (v, u)


def _communities(node2com: list[int]) -> list[list[int]]:
    """The non-empty communities in the order of their index, each its nodes in node order."""
    groups: list[list[int]] = [[] for _ in node2com]
    for node, c in enumerate(node2com):
        groups[c].append(node)
    return [g for g in groups if g]


def _inserted(n: int, pairs: list[tuple[int, int]]) -> list[list[int]]:
    """Each node's neighbours in the order ``Graph.add_edge`` would record them, the edges
    being added in the order of ``pairs``."""
    order: list[list[int]] = [[] for _ in range(n)]
    for u, v in pairs:
        order[u].append(v)
        if u != v:
            order[v].append(u)
    return order


class _Level:
    """One level's graph, nodes 0..n-1: each node's neighbours in networkx's adjacency order
    (``order``), the integer weight of each edge, and, derived from them, the neighbours without
    the self-loop and their weights, and the weighted degrees (a self-loop counted twice, as
    ``Graph.degree`` does)."""

    def __init__(
        self, n: int, order: list[list[int]], weight_of: dict[tuple[int, int], int]
    ) -> None:
        self.n = n
        self.order = order
        self.weight_of = weight_of
        self.nbrs = [[v for v in order[u] if v != u] for u in range(n)]
        self.wts = [[weight_of[_key(u, v)] for v in self.nbrs[u]] for u in range(n)]
        degrees = [0] * n
        for (u, v), w in weight_of.items():
            if u == v:
                degrees[u] += 2 * w
            else:
                degrees[u] += w
                degrees[v] += w
        self.degrees = degrees

    def listed_pairs(self) -> list[tuple[int, int]]:
        """The edges as ``Graph.edges`` lists them: by node, in adjacency order, each once."""
        return [(u, v) for u in range(self.n) for v in self.order[u] if v >= u]

    def modularity(self, communities: list[list[int]], resolution: float) -> float:
        """``nx.community.modularity(G, communities, weight="weight")`` with the same
        floating-point operations in the same order (the sums before them are of integers)."""
        deg_sum = sum(self.degrees)
        m = deg_sum / 2
        norm = 1 / deg_sum**2
        com = [0] * self.n
        for c, nodes in enumerate(communities):
            for node in nodes:
                com[node] = c
        internal = [0] * len(communities)
        for (u, v), w in self.weight_of.items():
            if com[u] == com[v]:
                internal[com[u]] += w
        totals = [sum(self.degrees[node] for node in nodes) for nodes in communities]
        return sum(
            internal[c] / m - resolution * totals[c] * totals[c] * norm
            for c in range(len(communities))
        )

    def aggregate(self, communities: list[list[int]]) -> _Level:
        """The graph of communities (networkx's ``_gen_graph``): node i is ``communities[i]``;
        an edge's weight is the sum of the weights between two communities, and the pairs enter
        the adjacency in the order in which they first occur among this level's listed edges."""
        new_id = [0] * self.n
        for i, nodes in enumerate(communities):
            for node in nodes:
                new_id[node] = i
        weight_of: dict[tuple[int, int], int] = {}
        pairs = []
        for u, v in self.listed_pairs():
            a, b = new_id[u], new_id[v]
            key = _key(a, b)
            if key in weight_of:
                weight_of[key] += self.weight_of[_key(u, v)]
            else:
                weight_of[key] = self.weight_of[_key(u, v)]
                pairs.append((a, b))
        return _Level(len(communities), _inserted(len(communities), pairs), weight_of)

    def one_level(
        self, m: float, resolution: float, rng: random.Random, skip: bool
    ) -> tuple[list[int], bool]:
        """Move nodes between communities until a sweep moves none (networkx 3.6's
        ``_one_level``, undirected): each node, in a shuffled order, goes to the neighbouring
        community of the largest positive modularity gain. Returns each node's community index
        and whether any node moved."""
        n = self.n
        degrees = self.degrees
        rand_nodes = list(range(n))
        rng.shuffle(rand_nodes)
        # The sweep's lists are kept in visiting order (position i is node rand_nodes[i]), so a
        # sweep reads them front to back, which at 100× took a quarter off the time (a shuffled
        # order missed the caches); communities keep their node-index names.
        position = [0] * n
        for i, u in enumerate(rand_nodes):
            position[u] = i
        nbrs = [[position[v] for v in self.nbrs[u]] for u in rand_nodes]
        wts = [self.wts[u] for u in rand_nodes]
        degree_at = [degrees[u] for u in rand_nodes]
        com = list(rand_nodes)
        stot = list(degrees)
        two_m2 = 2 * m**2
        unit = all(w == 1 for ws in wts for w in ws)
        # For skipping a visit: the move count when each community's Σtot last changed, the
        # move count at each node's last visit and the communities it weighed then (none if its
        # own was the only one: it stays whatever the Σtot), and whether the node or one of
        # its neighbours has moved since.
        moves = 0
        changed_at = [0] * n
        visited_at = [0] * n
        saw: list[tuple[int, ...]] = [()] * n
        stale = [True] * n
        improvement = False
        nb_moves = 1
        while nb_moves > 0:
            nb_moves = 0
            for u in range(n):
                if skip and not stale[u]:
                    since = visited_at[u]
                    for c in saw[u]:
                        if changed_at[c] > since:
                            break
                    else:
                        continue
                best_com = own = com[u]
                # Each neighbouring community's weight to u, in the order of first occurrence.
                # networkx sums them as floats; they are integers below 2**53, so summed as
                # integers they are the same numbers, and int / float divides as float / float.
                weights2com: dict[int, int] = {}
                if unit:
                    for v in nbrs[u]:
                        c = com[v]
                        weights2com[c] = weights2com.get(c, 0) + 1
                else:
                    for v, w in zip(nbrs[u], wts[u], strict=True):
                        c = com[v]
                        weights2com[c] = weights2com.get(c, 0) + w
                degree = degree_at[u]
                stot[own] -= degree
                if own not in weights2com:
                    weights2com[own] = 0  # networkx reads it from a defaultdict, adding it
                remove_cost = -weights2com[own] / m + resolution * (stot[own] * degree) / two_m2
                best_mod: float = 0
                for c, wt in weights2com.items():
                    gain = remove_cost + wt / m - resolution * (stot[c] * degree) / two_m2
                    if gain > best_mod:
                        best_mod = gain
                        best_com = c
                stot[best_com] += degree
                if best_com != own:
                    com[u] = best_com
                    improvement = True
                    nb_moves += 1
                    moves += 1
                    changed_at[own] = changed_at[best_com] = moves
                    stale[u] = True
                    for v in nbrs[u]:
                        stale[v] = True
                else:
                    stale[u] = False
                    visited_at[u] = moves
                    saw[u] = tuple(weights2com) if len(weights2com) > 1 else ()
        node2com = [com[position[u]] for u in range(n)]
        return node2com, improvement
