"""Altair drawings of the two graphs: the site graph (the model's Mesa ``Network`` space, sites
coloured by what they publish) and the spread of the largest error cascade.

Mesa's network space component lays the graph out anew on every draw and colours agents, not the
cells (sites) themselves, so these are custom: the site positions are computed once per model
(:func:`habsburg.viz.snapshot.site_positions`).
"""

from __future__ import annotations

import altair as alt
import networkx as nx
import pandas as pd

from habsburg.viz.charts import empty_note, month_label, panel_layer
from habsburg.viz.snapshot import SITE_WINDOW, Snapshot

SITE_SHAPES = {"human": "circle", "farm": "square", "aggregator": "triangle-up"}
#: the colour of a site that published nothing in the last SITE_WINDOW months
NOTHING_PUBLISHED = "#aaaaaa"


def network_chart(snap: Snapshot) -> alt.LayerChart:
    """The site graph: colour = synthetic share of a site's documents of the last 12 months
    (grey: nothing published then), shape = who runs it, size = PageRank."""
    sites = snap.sites.copy()
    sites["share"] = sites["synthetic_share"]
    e = snap.edges
    xy = sites[["x", "y"]].to_numpy()
    edges = pd.DataFrame(
        {"x": xy[e[:, 0], 0], "y": xy[e[:, 0], 1], "x2": xy[e[:, 1], 0], "y2": xy[e[:, 1], 1]}
    )
    pad = 0.08
    xs = alt.Scale(domain=[float(xy[:, 0].min()) - pad, float(xy[:, 0].max()) + pad], nice=False)
    ys = alt.Scale(domain=[float(xy[:, 1].min()) - pad, float(xy[:, 1].max()) + pad], nice=False)
    links = (
        alt.Chart(edges)
        .mark_rule(color="#999", opacity=0.35, strokeWidth=0.5)
        .encode(
            x=alt.X("x:Q", scale=xs, axis=None),
            y=alt.Y("y:Q", scale=ys, axis=None),
            x2="x2:Q",
            y2="y2:Q",
        )
    )
    counts = sites.kind.value_counts()
    sites["who"] = [f"{k} ({counts[k]})" for k in sites.kind]
    kinds = [k for k in SITE_SHAPES if k in counts]
    shapes = alt.Scale(
        domain=[f"{k} ({counts[k]})" for k in kinds], range=[SITE_SHAPES[k] for k in kinds]
    )

    def site_points(frame: pd.DataFrame) -> alt.Chart:
        return (
            alt.Chart(frame)
            .mark_point(filled=True, stroke="#333", strokeWidth=0.5, opacity=0.95)
            .encode(
                x=alt.X("x:Q", scale=xs, axis=None),
                y=alt.Y("y:Q", scale=ys, axis=None),
                shape=alt.Shape("who:N", title="run by", scale=shapes),
                size=alt.Size("pagerank:Q", legend=None, scale=alt.Scale(range=[12, 400])),
            )
        )

    about: list[str | alt.Tooltip] = [
        "site:Q",
        "kind:N",
        alt.Tooltip("documents:Q", title=f"documents, {SITE_WINDOW} months"),
        alt.Tooltip("pagerank:Q", format=".4f"),
    ]
    published = sites["documents"] > 0
    nodes = site_points(sites[published]).encode(
        color=alt.Color(
            "share:Q",
            title=f"synthetic share, last {SITE_WINDOW} months",
            scale=alt.Scale(domain=[0, 1], scheme="redblue", reverse=True),
            legend=alt.Legend(format="%", gradientLength=70),
        ),
        tooltip=[*about, alt.Tooltip("share:Q", format=".0%", title="synthetic share")],
    )
    # Vega-Lite drops a point whose colour field is empty: a site that published nothing in
    # the window (every farm site before the farms start) is drawn grey instead
    quiet = site_points(sites[~published].drop(columns=["share", "synthetic_share"])).encode(
        color=alt.value(NOTHING_PUBLISHED), tooltip=about
    )
    return panel_layer(links, nodes, quiet)


def cascade_layout(g: nx.DiGraph) -> dict:
    """Left to right by layer (origin, publishers, believers), spread evenly within a layer. Plain
    ranks, not ``nx.multipartite_layout``: that one rescales by the spread, which is 0/0 = NaN for
    a cascade of one actor (a model that made an error and came to believe it)."""
    layers: dict[int, list] = {}
    for node, data in g.nodes(data=True):
        layers.setdefault(int(data["layer"]), []).append(node)
    pos = {}
    for x, layer in enumerate(sorted(layers)):
        members = layers[layer]
        for i, node in enumerate(members):
            pos[node] = (float(x), float(i) - (len(members) - 1) / 2)
    return pos


def cascade_chart(snap: Snapshot) -> alt.LayerChart:
    """The error most models came to believe: origin → other publishers → believing models,
    left to right; hover a node for its documents and first month."""
    g = snap.cascade
    if g is None or g.number_of_nodes() == 0:
        frame = pd.DataFrame({"x": [0, 1], "y": [0, 1]})
        blank = (
            alt.Chart(frame)
            .mark_point(opacity=0)
            .encode(x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None))
        )
        return panel_layer(blank, empty_note(snap, "no model believes an error yet"))
    layer_of = {"origin": 0, "publisher": 1}
    for _node, data in g.nodes(data=True):
        role = str(data.get("role", "publisher"))
        data["layer"] = 2 if "believer" in role else layer_of.get(role, 1)
    pos = cascade_layout(g)
    nodes = pd.DataFrame(
        [
            {
                "node": str(n),
                "x": float(pos[n][0]),
                "y": float(pos[n][1]),
                "role": str(d.get("role", "")),
                "documents": int(d.get("documents", 0)),
                # a model that only came to believe it published none: no first month
                "first": month_label(snap, int(d.get("first_step", 0)))
                if d.get("documents")
                else "",
                "adopted": month_label(snap, int(d["adopted_step"])) if "adopted_step" in d else "",
            }
            for n, d in g.nodes(data=True)
        ]
    )
    xy = {r.node: (r.x, r.y) for r in nodes.itertuples()}
    edges = pd.DataFrame(
        [
            {
                "x": xy[str(a)][0],
                "y": xy[str(a)][1],
                "x2": xy[str(b)][0],
                "y2": xy[str(b)][1],
                "documents": d.get("documents", 0),
            }
            for a, b, d in g.edges(data=True)
        ],
        columns=["x", "y", "x2", "y2", "documents"],
    )
    xs = alt.Scale(domain=[nodes.x.min() - 0.4, nodes.x.max() + 0.4], nice=False)
    ys = alt.Scale(domain=[nodes.y.min() - 0.6, nodes.y.max() + 0.6], nice=False)
    links = (
        alt.Chart(edges)
        .mark_rule(color="#999", opacity=0.6)
        .encode(
            x=alt.X("x:Q", scale=xs, axis=None),
            y=alt.Y("y:Q", scale=ys, axis=None),
            x2="x2:Q",
            y2="y2:Q",
            strokeWidth=alt.StrokeWidth(
                "documents:Q", legend=None, scale=alt.Scale(range=[0.5, 4])
            ),
        )
    )
    dots = (
        alt.Chart(nodes)
        .mark_circle(size=160, stroke="#333")
        .encode(
            x=alt.X("x:Q", scale=xs, axis=None),
            y=alt.Y("y:Q", scale=ys, axis=None),
            color=alt.Color("role:N", title="role"),
            tooltip=[
                "node:N",
                "role:N",
                "documents:Q",
                alt.Tooltip("first:N", title="first published"),
                alt.Tooltip("adopted:N", title="believed from"),
            ],
        )
    )
    labels = dots.mark_text(dy=-12, fontSize=10, color="#888").encode(text="node:N")
    believers = sum("believer" in r for r in nodes.role)
    title = (
        f"error {g.graph.get('error_id')} (fact {g.graph.get('fact')}): believed by "
        f"{believers} model{'s' if believers != 1 else ''}"
    )
    return panel_layer(
        links, dots, labels, title=alt.Title(title, fontSize=11, fontWeight="normal")
    )
