"""The error registry: every wrong fact value ever published, with its origin (who, when), and
every adoption of an error as a model's belief.

Both are kept in growable numpy columns (appends cost what they add, reads are views), and the
two cascade statistics the model reports every month (the most models that came to believe one
error, the cross-model adoptions so far) are kept up to date as adoptions are recorded: no
monthly cost grows with the run's history."""

from __future__ import annotations

import numpy as np
import pandas as pd

from habsburg.ecosystem.columns import Column
from habsburg.ecosystem.store import KIND_NAMES

#: the registry's error columns and their types
ERROR_COLUMNS = {
    "fact": np.int32,
    "value": np.int16,
    "origin_kind": np.int32,
    "origin_producer": np.int32,
    "origin_model": np.int32,
    "step": np.int32,
}
#: the columns of an adoption row
ADOPTION_COLUMNS = ("error_id", "model", "generation", "step", "cross_model")


class ErrorRegistry:
    """Registry of wrong (fact, value) pairs.

    An error is a wrong value for a fact. Its id is assigned the first time any producer publishes
    it, and its origin (producer kind, producer id, model id, step) is recorded then. Adoptions
    record when a model generation comes to believe an error (its modal belief for the fact).
    """

    def __init__(self, n_facts: int, n_values: int, true_values: np.ndarray) -> None:
        self.n_facts, self.n_values = n_facts, n_values
        self.true_values = np.asarray(true_values)
        self._id_of_key = np.full(n_facts * n_values, -1, dtype=np.int32)
        self._cols = {k: Column(t, capacity=256) for k, t in ERROR_COLUMNS.items()}
        self._n = 0
        self._no_adoptions()

    def _no_adoptions(self) -> None:
        """An empty adoption record and its statistics."""
        self._adoptions = Column(np.int64, width=len(ADOPTION_COLUMNS), capacity=256)
        #: ``_adopters[e, m]``: whether model ``m`` ever came to believe error ``e``
        self._adopters = np.zeros((0, 0), dtype=bool)
        self._largest_cascade = 0
        self._cross_total = 0

    def __setstate__(self, state: dict) -> None:
        """Restore a pickled registry, including one pickled before its columns were growable
        (lists of arrays and a list of adoption tuples), whose statistics are then recounted."""
        cols = state.get("_cols", {})
        if any(isinstance(v, list) for v in cols.values()):
            legacy_rows = np.asarray(state.pop("_adoptions"), dtype=np.int64).reshape(-1, 5)
            state["_cols"] = {}
            for k, t in ERROR_COLUMNS.items():
                state["_cols"][k] = Column(t, capacity=256)
                if cols[k]:
                    state["_cols"][k].extend(np.concatenate(cols[k]).astype(t))
            self.__dict__.update(state)
            self._no_adoptions()
            for row in legacy_rows:  # the same adoptions, in the same order
                self._record(row[:1], int(row[1]), int(row[2]), int(row[3]), row[4:5].astype(bool))
            return
        self.__dict__.update(state)

    def __len__(self) -> int:
        return self._n

    def register(
        self,
        facts: np.ndarray,
        values: np.ndarray,
        kind: np.ndarray | int,
        producer: np.ndarray | int,
        model: np.ndarray | int,
        step: int,
    ) -> np.ndarray:
        """Error id of each claim (-1 where the value is true or the claim is empty); new wrong
        values are registered with the given origin (the first claimant in array order)."""
        facts = np.asarray(facts, dtype=np.int64)
        values = np.asarray(values, dtype=np.int64)
        n = facts.size
        ids = np.full(n, -1, dtype=np.int32)
        wrong = np.flatnonzero((values >= 0) & (values != self.true_values[facts]))
        if not wrong.size:
            return ids
        keys = facts[wrong] * self.n_values + values[wrong]
        known = self._id_of_key[keys]
        new = np.flatnonzero(known < 0)
        if new.size:
            new_keys, first = np.unique(keys[new], return_index=True)
            rows = wrong[new[first]]
            order = np.argsort(rows, kind="stable")  # ids in order of first appearance
            new_keys, rows = new_keys[order], rows[order]
            new_ids = np.arange(self._n, self._n + len(new_keys), dtype=np.int32)
            self._id_of_key[new_keys] = new_ids
            self._n += len(new_keys)
            self._cols["fact"].extend(facts[rows].astype(np.int32))
            self._cols["value"].extend(values[rows].astype(np.int16))
            for name, v in (
                ("origin_kind", kind),
                ("origin_producer", producer),
                ("origin_model", model),
            ):
                arr = np.broadcast_to(np.asarray(v), (n,))
                self._cols[name].extend(np.asarray(arr[rows], dtype=np.int32))
            self._cols["step"].extend(np.full(len(rows), step, np.int32))
            known = self._id_of_key[keys]
        ids[wrong] = known
        return ids

    def error_id(self, facts: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Registered id of (fact, value) pairs, -1 if true or never published."""
        facts = np.asarray(facts, dtype=np.int64)
        values = np.asarray(values, dtype=np.int64)
        ids = self._id_of_key[facts * self.n_values + values]
        return np.where(values == self.true_values[facts], -1, ids)

    def wrong(self, facts: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Whether each claim (fact, value) has a wrong value (empty claims, value -1, do not)."""
        values = np.asarray(values)
        return (np.take(self.true_values, facts) != values) & (values >= 0)

    def claim_ids(self, facts: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The id (int32) :meth:`register` gave each claim (fact, value) once published: -1
        where the value is true or the claim is empty. (The document store derives its claims'
        error ids from this instead of storing them.)"""
        facts, values = np.asarray(facts), np.asarray(values)
        out = np.full(facts.shape, -1, dtype=np.int32)
        wrong = np.flatnonzero(self.wrong(facts, values))
        if wrong.size:
            keys = facts[wrong].astype(np.int64)
            keys *= self.n_values
            keys += values[wrong]
            out[wrong] = self._id_of_key[keys]
        return out

    def key_ids(self, keys: np.ndarray) -> np.ndarray:
        """:meth:`claim_ids` of claims given by their keys ``fact × n_values + value`` (values
        ``0 .. n_values - 1``): only wrong values are ever registered, so a key's id is -1
        exactly where :meth:`claim_ids` gives -1."""
        return self._id_of_key[keys]

    def wrong_keys(self, keys: np.ndarray) -> np.ndarray:
        """:meth:`wrong` of claims given by their keys ``fact × n_values + value``: one lookup
        in a table of every key (a byte each; the true values are fixed for the run)."""
        table = self.__dict__.get("_wrong_key")
        if table is None:
            table = np.ones(self.n_facts * self.n_values, dtype=bool)
            table[np.arange(self.n_facts) * self.n_values + self.true_values] = False
            self._wrong_key = table
        return table[keys]

    def column(self, name: str) -> np.ndarray:
        """Error column ``name`` (one value per error, in id order): a read-only view."""
        view = self._cols[name].view
        view.flags.writeable = False
        return view

    def record_adoptions(
        self, error_ids: np.ndarray, model: int, generation: int, step: int
    ) -> int:
        """Record that ``model`` (at ``generation``) now believes these errors; returns how many
        of them originated in another model (cross-model adoptions; human errors do not count)."""
        error_ids = np.asarray(error_ids, dtype=np.int64)
        error_ids = error_ids[error_ids >= 0]
        origin = self._cols["origin_model"].view[error_ids]
        cross = (origin >= 0) & (origin != model)
        self._record(error_ids, model, generation, step, cross)
        return int(cross.sum())

    def _record(
        self, error_ids: np.ndarray, model: int, generation: int, step: int, cross: np.ndarray
    ) -> None:
        """Append adoption rows and bring the cascade statistics up to date (work in proportion
        to the rows added)."""
        n = error_ids.size
        if n == 0:
            return
        rows = np.empty((n, len(ADOPTION_COLUMNS)), dtype=np.int64)
        rows[:, 0] = error_ids
        rows[:, 1:4] = (model, generation, step)
        rows[:, 4] = cross
        self._adoptions.extend(rows)
        self._cross_total += int(cross.sum())
        have_errors, have_models = self._adopters.shape
        errors, models = max(self._n, int(error_ids.max()) + 1), model + 1
        if errors > have_errors or models > have_models:
            grown = np.zeros((max(errors, 2 * have_errors), max(models, have_models)), dtype=bool)
            grown[:have_errors, :have_models] = self._adopters
            self._adopters = grown
        new = np.unique(error_ids)
        new = new[~self._adopters[new, model]]
        if new.size:  # only these errors' counts of believing models change
            self._adopters[new, model] = True
            most = int(self._adopters[new].sum(axis=1).max())
            self._largest_cascade = max(self._largest_cascade, most)

    @property
    def n_adoptions(self) -> int:
        """How many adoptions have been recorded."""
        return self._adoptions.size

    @property
    def largest_cascade_models(self) -> int:
        """The most distinct models that ever came to believe one error (0 before any)."""
        return self._largest_cascade

    @property
    def cross_model_adoptions(self) -> int:
        """Adoptions so far of errors that originated in another model."""
        return self._cross_total

    def to_frame(self) -> pd.DataFrame:
        """One row per error: id, fact, value, origin (kind name, producer, model), step."""
        df = pd.DataFrame({k: self.column(k) for k in self._cols})
        df.insert(0, "error_id", np.arange(len(df), dtype=np.int32))
        df["origin_kind"] = (
            pd.Categorical.from_codes(df["origin_kind"].to_numpy(), categories=list(KIND_NAMES))
            if len(df)
            else pd.Categorical([], categories=list(KIND_NAMES))
        )
        return df

    def adoptions_array(self) -> np.ndarray:
        """Adoptions as an (n, 5) int64 array: error_id, model, generation, step, cross_model (a
        read-only view)."""
        view = self._adoptions.view
        view.flags.writeable = False
        return view

    def adoptions_frame(self) -> pd.DataFrame:
        """One row per adoption: error_id, model, generation, step, cross_model."""
        return pd.DataFrame(self._adoptions.view, columns=list(ADOPTION_COLUMNS)).astype("int32")
