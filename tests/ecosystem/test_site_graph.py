"""The site graph's link farms: groups of ``link_farm_size`` sites linked to each other, the same
random draws whatever the group size, and one group of every site by default."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from habsburg.ecosystem.internet import FARM_SITE, build_site_graph


def graph(farm_sites: int, group: int | None, spam: int = 3):
    sizes = None if group is None else [group]
    return build_site_graph(
        60, 2, [farm_sites], [spam], [2], np.random.default_rng(7), farm_link_farm_size=sizes
    )


def farm_links(G: nx.DiGraph, farm: list[int]) -> set[tuple[int, int]]:
    members = set(farm)
    return {(a, b) for a, b in G.edges() if a in members and b in members}


def test_default_is_one_link_farm_of_every_site():
    G, kind, _ = graph(6, None)
    farm = np.flatnonzero(kind == FARM_SITE).tolist()
    assert farm_links(G, farm) == {(a, b) for a in farm for b in farm if a != b}
    G0, _, _ = graph(6, 0)
    assert set(G0.edges()) == set(G.edges())


@pytest.mark.parametrize("group", [1, 2, 4, 6, 9])
def test_link_farms_are_groups_of_the_given_size(group):
    G, kind, _ = graph(10, group)
    farm = [int(s) for s in np.flatnonzero(kind == FARM_SITE)]
    first = farm[0]
    expected = {
        (a, b)
        for a in farm
        for b in farm
        if a != b and (a - first) // group == (b - first) // group
    }
    assert farm_links(G, farm) == expected
    # every other link (spam in, one link out, the human web, aggregators) is drawn the same
    full, _, _ = graph(10, None)
    others = set(full.edges()) - farm_links(full, farm)
    assert set(G.edges()) - farm_links(G, farm) == others
