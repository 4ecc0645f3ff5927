"""habsburg's Louvain finds networkx 3.6's communities, exactly, and its skipped visits change
nothing.

Where networkx < 3.7 is installed (Python 3.11 here) every check is against the library itself;
networkx 3.7 rewrote the gains (different communities from the same seed), so there the
communities networkx 3.6.1 returned for a fixed set of graphs, stored in
``data/louvain_networkx36.json`` by ``python tests/ecosystem/test_communities.py`` (which refuses
to run under another networkx), are the reference.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from habsburg.ecosystem.communities import louvain_communities
from habsburg.ecosystem.internet import HUMAN_SITE, build_site_graph

NX_VERSION = tuple(int(x) for x in nx.__version__.split(".")[:2])
NETWORKX_36 = NX_VERSION < (3, 7)
FIXTURE = Path(__file__).parent / "data" / "louvain_networkx36.json"


def site_like_graph(seed: int) -> nx.Graph:
    """A graph like the model's human web, built from ``random.Random(seed)`` alone (the same
    graph under every networkx): preferential attachment, then a node relabelling and a
    ``subgraph(...).to_undirected()`` as ``home_sites`` does, sometimes with self-loops, integer
    weights, string labels or isolated nodes."""
    r = random.Random(seed)
    n, k = r.randint(5, 160), r.randint(1, 4)
    edges, targets = [], list(range(k))
    for new in range(k, n):
        for old in sorted({r.choice(targets) for _ in range(k)}):
            edges.append((new, old))
            targets += [new, old]
    directed = nx.DiGraph()
    directed.add_nodes_from(r.sample(range(n), n))
    directed.add_edges_from((a, b) for a, b in edges)
    directed.add_edges_from((b, a) for a, b in edges if r.random() < 0.8)
    keep = [x for x in range(n) if r.random() < 0.9]
    graph = directed.subgraph(keep).to_undirected()
    if seed % 3 == 1:
        for u, v in graph.edges:
            graph[u][v]["weight"] = r.randint(1, 6)
        for u in r.sample(list(graph), min(4, len(graph))):
            graph.add_edge(u, u, weight=r.randint(1, 3))
    if seed % 5 == 2:
        graph = nx.relabel_nodes(graph, {u: f"site-{u * 7919 % 1000:03d}" for u in graph})
    return graph


def as_lists(communities: list[set]) -> list[list[str]]:
    return [sorted(map(str, c)) for c in communities]


def test_the_stored_reference_is_what_networkx_36_returned():
    stored = json.loads(FIXTURE.read_text())
    assert len(stored["graphs"]) >= 20
    if NETWORKX_36:
        for case in stored["graphs"]:
            graph = site_like_graph(case["graph"])
            expected = nx.community.louvain_communities(graph, seed=case["seed"])
            assert as_lists(expected) == case["communities"]


def test_habsburg_finds_networkx_36s_communities_on_the_stored_graphs():
    for case in json.loads(FIXTURE.read_text())["graphs"]:
        graph = site_like_graph(case["graph"])
        assert as_lists(louvain_communities(graph, case["seed"])) == case["communities"]


@pytest.mark.skipif(not NETWORKX_36, reason="networkx >= 3.7 finds other communities")
@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 60),
    edges=st.lists(st.tuples(st.integers(0, 59), st.integers(0, 59), st.integers(1, 4))),
    weighted=st.booleans(),
    seed=st.integers(0, 2**31 - 2),
)
def test_habsburg_finds_networkx_36s_communities(n, edges, weighted, seed):
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    for a, b, w in edges:
        if a < n and b < n:
            graph.add_edge(a, b, **({"weight": w} if weighted else {}))
    expected = nx.community.louvain_communities(graph, seed=seed)
    assert louvain_communities(graph, seed) == expected


@pytest.mark.skipif(not NETWORKX_36, reason="networkx >= 3.7 finds other communities")
@pytest.mark.parametrize("factor", [1, 3])
def test_on_the_baseline_web_the_communities_are_networkx_36s(factor):
    graph, kind, _ = build_site_graph(
        400 * factor, 3, [20 * factor], [5], [2], np.random.default_rng(factor)
    )
    human = graph.subgraph(np.flatnonzero(kind == HUMAN_SITE).tolist()).to_undirected()
    expected = nx.community.louvain_communities(human, seed=12345)
    assert louvain_communities(human, 12345) == expected


@settings(max_examples=60, deadline=None)
@given(graph_seed=st.integers(0, 10_000), seed=st.integers(0, 2**31 - 2))
def test_skipping_visits_changes_nothing(graph_seed, seed):
    graph = site_like_graph(graph_seed)
    assert louvain_communities(graph, seed) == louvain_communities(graph, seed, skip=False)


def test_the_communities_partition_the_nodes_and_raise_modularity():
    graph = site_like_graph(40)
    found = louvain_communities(graph, 3)
    assert sorted(map(str, set().union(*found))) == sorted(map(str, graph))
    assert sum(len(c) for c in found) == graph.number_of_nodes()
    singletons = [{u} for u in graph]
    assert nx.community.modularity(graph, found) > nx.community.modularity(graph, singletons)


def test_graphs_it_does_not_take_are_refused():
    with pytest.raises(TypeError, match="undirected simple graph"):
        louvain_communities(nx.DiGraph([(0, 1)]), 1)
    with pytest.raises(TypeError, match="undirected simple graph"):
        louvain_communities(nx.MultiGraph([(0, 1)]), 1)
    graph = nx.Graph()
    graph.add_edge("a", "b", weight=0.5)
    with pytest.raises(TypeError, match="only integer weights"):
        louvain_communities(graph, 1)


def test_a_graph_without_edges_is_its_nodes():
    graph = nx.Graph()
    graph.add_nodes_from([3, 1, 2])
    assert louvain_communities(graph, 5) == [{3}, {1}, {2}]


def write_fixture() -> None:
    """Store networkx 3.6's communities of ``site_like_graph(g)`` for g = 0..23."""
    if not NETWORKX_36:
        sys.exit(f"networkx {nx.__version__}: the reference must come from networkx 3.6")
    cases = []
    for g in range(24):
        graph = site_like_graph(g)
        seed = random.Random(1000 + g).randrange(2**31 - 1)
        found = nx.community.louvain_communities(graph, seed=seed)
        cases.append({"graph": g, "seed": seed, "communities": as_lists(found)})
    FIXTURE.parent.mkdir(exist_ok=True)
    lines = ",\n".join(json.dumps(case) for case in cases)
    FIXTURE.write_text(f'{{"networkx": "{nx.__version__}", "graphs": [\n{lines}\n]}}\n')


if __name__ == "__main__":
    write_fixture()
