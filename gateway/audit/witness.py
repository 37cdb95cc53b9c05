"""A witness: someone outside the gateway who remembers what the log said and checks it only grows.

Each run fetches the latest checkpoint, verifies its signature with the pinned verifier key, and, if
it is newer than the last one this witness saw, asks for an RFC 9162 consistency proof between the
two and verifies it (§2.1.4.2). A log that shrank, that shows a different root for a size already
seen, or whose proof fails has forked: the gateway (or someone with its key and database) rewrote
history. The state file keeps the pinned key, the last checkpoint and every note seen.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.audit.errors import AuditError, BadNote
from gateway.audit.merkle import verify_consistency
from gateway.audit.notes import Checkpoint, NoteVerifier, open_checkpoint

MAX_HISTORY = 10_000


class ForkDetected(AuditError):
    """The log's new checkpoint is not an append-only extension of the one seen before."""


class WitnessUnavailable(AuditError):
    """The gateway could not be asked (network, authentication, or a malformed answer)."""


@dataclass
class WitnessState:
    vkey: str
    size: int = 0
    root: str = ""
    note: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> WitnessState | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(data["vkey"], data["size"], data["root"], data["note"], data.get("history", []))

    def save(self, path: Path) -> None:
        """Write atomically (a torn state file would make the witness forget)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".witness-")
        with os.fdopen(fd, "w") as handle:
            json.dump(self.__dict__, handle, indent=1)
        os.replace(tmp, path)


@dataclass(frozen=True)
class Observation:
    previous: int
    size: int
    root: bytes
    grew: bool


def _get(client: httpx.Client, url: str, headers: dict[str, str]) -> httpx.Response:
    try:
        response = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise WitnessUnavailable(f"cannot reach {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise WitnessUnavailable(f"{url} answered {response.status_code}")
    return response


def observe(
    client: httpx.Client,
    base_url: str,
    state_path: Path,
    *,
    vkey: str | None = None,
    token: str | None = None,
) -> Observation:
    """Fetch, verify and remember the log's latest checkpoint; raise :class:`ForkDetected`."""
    state = WitnessState.load(state_path)
    if state is None and vkey is None:
        raise WitnessUnavailable(
            "the first run needs --vkey: the log's verifier key, obtained "
            "from the gateway's operator out of band"
        )
    if state is not None and vkey is not None and vkey.strip() != state.vkey:
        raise ForkDetected("the verifier key differs from the one this witness pinned")
    pinned = state.vkey if state is not None else (vkey or "").strip()
    verifier = NoteVerifier.from_vkey(pinned)
    base = base_url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    note = _get(client, f"{base}/audit/checkpoint", headers).text
    try:
        checkpoint = open_checkpoint(note, verifier)
    except BadNote as exc:
        raise ForkDetected(f"the checkpoint does not verify: {exc}") from None
    previous = state.size if state is not None else 0
    if state is not None:
        _check_extends(client, base, headers, state, checkpoint)
    new = state or WitnessState(pinned)
    grew = state is None or checkpoint.size > state.size
    if grew:
        new.size, new.root, new.note = (
            checkpoint.size,
            base64.b64encode(checkpoint.root).decode(),
            note,
        )
        new.history = [*new.history, {"size": checkpoint.size, "note": note, "at": time.time()}]
        new.history = new.history[-MAX_HISTORY:]
        new.save(state_path)
    return Observation(previous, checkpoint.size, checkpoint.root, grew)


def _check_extends(
    client: httpx.Client,
    base: str,
    headers: dict[str, str],
    state: WitnessState,
    checkpoint: Checkpoint,
) -> None:
    old_root = base64.b64decode(state.root) if state.root else b""
    if checkpoint.size < state.size:
        raise ForkDetected(f"the log shrank: it showed {state.size} entries, now {checkpoint.size}")
    if checkpoint.size == state.size:
        if checkpoint.root != old_root:
            raise ForkDetected(f"two different roots were signed for size {state.size}")
        return
    if state.size == 0:
        return
    url = f"{base}/audit/proof/consistency?from={state.size}&to={checkpoint.size}"
    try:
        proof = [base64.b64decode(h) for h in _get(client, url, headers).json()["hashes"]]
    except (ValueError, KeyError, TypeError):
        raise WitnessUnavailable("the consistency proof is not in the documented form") from None
    if not verify_consistency(state.size, checkpoint.size, old_root, checkpoint.root, proof):
        raise ForkDetected(
            f"the checkpoint at size {checkpoint.size} is not consistent with the one this "
            f"witness saw at size {state.size}: the log was rewritten"
        )
