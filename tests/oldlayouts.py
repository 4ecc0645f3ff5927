"""Store states as checkpoints written before a layout change held them (a plain module, imported
as ``from oldlayouts import ...``, like ``batches``)."""

from __future__ import annotations

from habsburg.ecosystem.columns import Column, ColumnTypes


def with_fact_and_value_columns(state: dict, store) -> dict:
    """``state`` (a store's ``__getstate__``) as before claim codes: a fact column and a value
    column for claims, and column types without the ``claim`` and ``values`` fields (as a
    checkpoint unpickles them)."""
    del state["_claims"]
    for name, values in zip(("facts", "values"), store.claims_at(slice(None)), strict=True):
        state[f"_claim_{name}"] = Column(values.dtype, capacity=max(values.size, 1))
        state[f"_claim_{name}"].extend(values)
    old = ColumnTypes.__new__(ColumnTypes)
    skip = ("claim", "values")
    old.__dict__.update({k: v for k, v in vars(store.types).items() if k not in skip})
    state["types"] = old
    return state
