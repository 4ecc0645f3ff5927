"""Checkpoints of a long run that ``--resume`` can trust.

The whole model (Mesa model, agents, document store, the random generators' state) is pickled
every N months, so a run resumed from its last checkpoint gives the same tables as one that was
never interrupted. A pickle can run code when it is read, so a checkpoint is only unpickled after
two checks:

1. **Authenticity**: the file carries an HMAC-SHA256 of its header and body, keyed by a per-user
   secret kept in the user's own configuration directory (``$XDG_CONFIG_HOME/habsburg/
   checkpoint.key``, else ``~/.config/habsburg/checkpoint.key``; created once, mode 0600), never in
   the results directory. A checkpoint written by another account or machine, or edited after it
   was written, fails the check and is refused *before* anything is unpickled.
2. **Identity**: the (authenticated) header records the scenario's hash, the seed, the
   habsburg version that wrote it and the versions of the packages a run's numbers depend on
   (:data:`~habsburg.experiments.versions.RESULT_PACKAGES`: numpy, Mesa, ...); resuming a
   different scenario or seed, or in an environment of other versions, is refused.

A checkpoint is written atomically as ``OUT/.checkpoint.pkl`` and removed when the run's results
are written. A run with ``--store-dir`` keeps its document store in column files that the
checkpoint refers to rather than holds (:mod:`habsburg.ecosystem.ondisk`); the header names
their directory, and resuming checks it is the one this run uses. What resuming trusts: whoever
can read your key file can forge checkpoints you will load; keep it private (``chmod 600``), as
you would an SSH key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from habsburg.experiments.changes import describe_changes
from habsburg.experiments.files import atomic_write_bytes
from habsburg.experiments.versions import installed_version, result_versions, version_changes
from habsburg.scenarios.errors import CheckpointError
from habsburg.scenarios.schema import Scenario

if TYPE_CHECKING:
    from habsburg.model.model import EcosystemModel

CHECKPOINT_NAME = ".checkpoint.pkl"
MAGIC = b"HABSBURG-CHECKPOINT 2\n"
KEY_NAME = "checkpoint.key"
FORMAT = 2
DIGEST = hashlib.sha256().digest_size


def checkpoint_path(out: str | Path) -> Path:
    """Where a run writing into ``out`` keeps its checkpoint."""
    return Path(out) / CHECKPOINT_NAME


def config_dir() -> Path:
    """The user's habsburg configuration directory (XDG base directory convention)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "habsburg"


def checkpoint_key() -> bytes:
    """The per-user secret that authenticates checkpoints (created on first use, mode 0600)."""
    path = config_dir() / KEY_NAME
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = b""
    except OSError as err:
        raise CheckpointError(f"cannot read the checkpoint key {str(path)!r}: {err}") from None
    if len(key) >= 32:
        return key
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # created meanwhile by another process, or too short: refuse
        key = path.read_bytes()
        if len(key) >= 32:
            return key
        raise CheckpointError(
            f"the checkpoint key {str(path)!r} is damaged (shorter than 32 bytes); delete it "
            "(checkpoints written with it can then no longer be resumed)"
        ) from None
    except OSError as err:
        raise CheckpointError(
            f"cannot create the checkpoint key {str(path)!r}: {err.strerror or err}; set "
            "XDG_CONFIG_HOME to a writable directory or run without --checkpoint-every"
        ) from None
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def _settings(scenario: Scenario) -> dict[str, Any]:
    """The scenario as run, without its seed (checked apart) and source file name."""
    data = scenario.to_dict()
    data.pop("source", None)
    data.pop("seed", None)
    return data


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 of the scenario as run (without its seed and source file name)."""
    text = json.dumps(_settings(scenario), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _other_settings(header: dict[str, Any], scenario: Scenario) -> str:
    """The words "NAME with other settings", with the first of them named when the checkpoint
    records its settings (those written before it did say only that)."""
    changes = (
        describe_changes(header["settings"], _settings(scenario)) if "settings" in header else ""
    )
    return f"{scenario.name!r} with other settings{f' ({changes})' if changes else ''}"


def _identity(scenario: Scenario, seed: int | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "scenario": scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "seed": int(seed if seed is not None else scenario.seed),
        "habsburg": installed_version("habsburg"),
        # (checked apart from the identity: older checkpoints do not record them)
        "versions": result_versions(),
    }


def save_checkpoint(
    model: EcosystemModel, path: str | Path, scenario: Scenario, seed: int | None
) -> Path:
    """Pickle ``model`` to ``path`` atomically, with an authenticated header saying what wrote it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    store = getattr(model.internet.store, "directory", None)  # (an on-disk store's files)
    header = json.dumps(
        {
            **_identity(scenario, seed),
            # (what a refusal to resume names when the scenario has changed since)
            "settings": _settings(scenario),
            "steps": model.steps,
            "store_dir": None if store is None else str(Path(store).resolve()),
        },
        sort_keys=True,
        default=str,
    )
    head = header.encode("utf-8") + b"\n"
    body = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    mac = hmac.new(checkpoint_key(), head + body, hashlib.sha256).digest()
    return atomic_write_bytes(path, MAGIC + mac + head + body)


def read_header(path: str | Path) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """The header of the checkpoint at ``path`` and its (unchecked) MAC, header bytes, body."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r}: {err.strerror or err}"
        ) from None
    rest = data[len(MAGIC) :]
    end = rest.find(b"\n", DIGEST)
    if not data.startswith(MAGIC) or end < 0:
        raise CheckpointError(
            f"{str(path)!r} is not a habsburg checkpoint (or one written by an older version, "
            "which is not authenticated); delete it to start over"
        )
    mac, head, body = rest[:DIGEST], rest[DIGEST : end + 1], rest[end + 1 :]
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        header = None
    if not isinstance(header, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} has a damaged header; delete it")
    return header, mac, head, body


def check_not_another_runs(path: str | Path, scenario: Scenario, seed: int | None) -> None:
    """Before a run that does not resume: refuse if ``path`` holds the checkpoint of an
    interrupted run of another scenario or seed, which this run would overwrite (if it
    checkpoints) or remove (when its results are written). A checkpoint of this same run is
    replaced, as starting over without ``--resume`` asks; none at all is fine."""
    path = Path(path)
    if not path.exists():
        return
    header = read_header(path)[0]
    want = _identity(scenario, seed)
    if header.get("scenario_hash") == want["scenario_hash"] and header.get("seed") == want["seed"]:
        return
    theirs = header.get("scenario")
    if theirs != want["scenario"]:
        other = repr(theirs)
    elif header.get("seed") != want["seed"]:
        other = f"{theirs!r} with seed {header.get('seed')!r}"
    else:
        other = _other_settings(header, scenario)
    raise CheckpointError(
        f"{str(path.parent)!r} holds the checkpoint of an interrupted run of {other} (after "
        f"month {header.get('steps', '?')}), which this run would remove: resume it with the "
        "command that run printed, or choose another --out, or delete the checkpoint "
        f"({path.name}) to give it up"
    )


def load_checkpoint(
    path: str | Path, scenario: Scenario, seed: int | None, *, store_dir: str | Path | None = None
) -> EcosystemModel:
    """The model saved at ``path``, after checking it was written by this user (HMAC) for this
    scenario, seed and habsburg version, with its document store in ``store_dir`` (the
    directory of its column files; None: in memory); :class:`CheckpointError` naming the file
    otherwise. Nothing is unpickled before these checks pass."""
    header, mac, head, body = read_header(path)
    expected = hmac.new(checkpoint_key(), head + body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not authenticated by your key "
            f"({config_dir() / KEY_NAME}): it was written by another account or machine, or "
            "changed since; habsburg will not load it. Delete it to start over"
        )
    want = _identity(scenario, seed)
    for key, label in (
        ("format", "checkpoint format"),
        ("scenario_hash", "scenario"),
        ("seed", "seed"),
        ("habsburg", "habsburg version"),
    ):
        if header.get(key) != want[key]:
            what = f"a different {label} ({header.get(key)!r}, this run has {want[key]!r})"
            if key == "scenario_hash":  # names say more than hashes ('baseline-x0.3')
                theirs, ours = header.get("scenario"), want["scenario"]
                what = (
                    f"scenario {_other_settings(header, scenario)}"
                    if theirs == ours
                    else f"a different scenario ({theirs!r}, this run has {ours!r})"
                )
            raise CheckpointError(
                f"checkpoint {str(path)!r} was written for {what}; resume with the command the "
                "interrupted run printed, or delete it (or drop --resume) to start over"
            )
    changes = version_changes(header.get("versions"))
    if changes:  # the rest of the run would draw other numbers than its first months did
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written with {', '.join(changes)}; a seed gives the "
            "same run only with the same versions: resume it in the environment that wrote it, "
            "or delete it (or drop --resume) to start over"
        )
    _check_store_dir(path, header.get("store_dir"), store_dir)
    try:
        model = pickle.loads(body)
    except CheckpointError as err:  # a column file it refers to is missing (named)
        raise CheckpointError(
            f"cannot resume from checkpoint {str(path)!r}: {err}; restore them, or delete the "
            "checkpoint and that directory to start over"
        ) from None
    except Exception as err:  # authenticated yet unreadable: e.g. classes renamed since
        raise CheckpointError(
            f"cannot resume from checkpoint {str(path)!r}: {err}; delete it to start over"
        ) from None
    if getattr(model, "steps", None) != header.get("steps"):
        raise CheckpointError(f"checkpoint {str(path)!r} is inconsistent; delete it")
    return model


def _check_store_dir(path: str | Path, theirs: str | None, store_dir: str | Path | None) -> None:
    """Refuse to resume a run whose store was in column files without them, or in memory with
    them, or from files elsewhere than ``store_dir``."""
    ours = None if store_dir is None else str(Path(store_dir).resolve())
    if theirs == ours:
        return
    if theirs is None:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is of a run that kept its document store in memory; "
            "resume it without --store-dir"
        )
    parent = str(Path(theirs).parent)
    if ours is None:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is of a run that kept its document store in files "
            f"({theirs}); resume it with --store-dir {parent!r}"
        )
    raise CheckpointError(
        f"checkpoint {str(path)!r} refers to the document store files in {theirs}, not in "
        f"{ours}; resume it with --store-dir {parent!r}"
    )
