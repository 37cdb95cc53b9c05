"""Write hooks: a domain package takes part in FHIR REST writes of the resource types it owns.

The FHIR endpoints (``/fhir/{type}`` POST/PUT/PATCH/DELETE, and every write entry of a batch or
transaction Bundle) consult the registry kept on ``app.state.write_hooks`` before they run the
generic :class:`~gateway.fhir.service.ResourceService` write. ``gateway.fhir`` knows nothing of the
packages that register here: a package registers its hooks when ``create_app`` installs it::

    from gateway.fhir.write_hooks import WriteHook, registry

    class TaskHook(WriteHook):
        def create(self, w, rtype, body, rid):
            if not is_mine(body):
                return None  # not mine: the next hook, then the generic create
            return my_workflow(w.session).open(w.caller, body)  # a Stored

    registry(app.state).register("Task", TaskHook())

Rules:

* **Several hooks per type, tried in registration order; the first non-None result wins.** A hook
  that returns ``None`` from :meth:`WriteHook.create`, ``update``, ``patch`` or ``delete`` lets the
  next hook (and finally the generic write) run. A hook refuses a write by raising a
  :class:`~gateway.fhir.errors.FhirError` (409 ``Conflict``, 403 ``Forbidden`` ...), which the
  endpoint renders as an ``OperationOutcome``; inside a transaction Bundle it fails the Bundle.
* A hook that takes a write over does all of it (storing, side effects) on ``w.session`` and returns
  the :class:`~gateway.fhir.resource_rules.Stored` version the client gets back. It never commits:
  the endpoint's unit of work does (with the interaction's AuditEvent).
* :meth:`WriteHook.check` and :meth:`WriteHook.after` run around the *generic* write only (every
  hook of the type, in order): ``check`` may refuse the new content, ``after`` may write what
  follows from it (same transaction). They do not run when a hook took the write over.
* :meth:`WriteHook.prepare` runs before the unit of work opens (e.g. to refresh an in-memory
  index that cannot be read inside an open SQLite write transaction). Keep it cheap.
* Set ``wants_previous = True`` on a hook whose ``after`` needs the content stored before an
  update, patch or delete (read once, without sharing checks, inside the transaction).
* ``w.response_headers`` lets a hook add headers to the HTTP response (single-resource
  interactions; a Bundle entry has no headers of its own).

Conditional creates (``If-None-Exist``) that find an existing resource, and conditional updates or
deletes, are resolved to the resource they name first; hooks then see a plain create, update or
delete.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session

from gateway.auth.schemas import Caller
from gateway.fhir.errors import InvalidRequest, PreconditionFailed
from gateway.fhir.patch import apply_patch
from gateway.fhir.resource_rules import Stored
from gateway.fhir.service import ResourceService

Resource = dict[str, Any]
Default = Callable[[], Stored | None]


@dataclass
class WriteContext:
    """What a hook is given: the unit of work, who is writing, the request's service, app state."""

    session: Session
    caller: Caller
    service: ResourceService  # the request's service (sharing guard, authorship, labels)
    state: Any  # ``app.state`` (settings, the packages' own contexts)
    response_headers: dict[str, str] = field(default_factory=dict)
    bundle: bool = False  # the write is an entry of a batch or transaction Bundle

    def shown(self, stored: Stored) -> Stored:
        """What a hook wrote, as the caller may see it: the sharing rules decide (and the decision
        names the resource and its patient in the interaction's AuditEvent). A write that was the
        caller's to make but whose content is not its to see comes back as id, meta and status."""
        guard = getattr(self.service, "guard", None)
        if guard is None or stored.content is None:
            return stored
        shown = guard.shown(stored.rtype, stored.rid, stored.content, "read")
        if shown is None:
            doc = orjson.loads(stored.content)
            keep = ("resourceType", "id", "meta", "status")
            shown = orjson.dumps({k: doc[k] for k in keep if k in doc}).decode()
        stored.content = shown
        return stored


class WriteHook:
    """A domain package's part in FHIR writes; every method's default is "not mine"."""

    wants_previous: bool = False

    def prepare(self, state: Any, method: str, rtype: str) -> None:
        """Before the unit of work opens; ``method`` is POST, PUT, PATCH or DELETE."""

    def create(self, w: WriteContext, rtype: str, body: Any, rid: str | None) -> Stored | None:
        """Take over a create (return its Stored), refuse it (raise), or pass (None).

        ``rid`` is the id a transaction Bundle already assigned to this entry (references to it
        are rewritten to that id): a hook that takes the create over must store it under ``rid``.
        """
        return None

    def update(
        self, w: WriteContext, rtype: str, rid: str, body: Any, if_match: str | None
    ) -> Stored | None:
        """Take over an update, refuse it, or pass (None)."""
        return None

    def patch(
        self, w: WriteContext, rtype: str, rid: str, operations: Any, if_match: str | None
    ) -> Stored | None:
        """Take over a JSON Patch, refuse it, or pass (None)."""
        return None

    def delete(self, w: WriteContext, rtype: str, rid: str) -> Stored | None:
        """Take over a delete (return the deletion's Stored), refuse it, or pass (None)."""
        return None

    def check(self, w: WriteContext, rtype: str, rid: str | None, content: Resource) -> None:
        """Before a generic create/update/patch, with the content about to be stored (for a
        patch, the stored content with the patch applied): raise to refuse."""

    def after(
        self, w: WriteContext, stored: Stored, content: Resource | None, previous: Resource | None
    ) -> None:
        """After a generic write that changed something (``content`` None for a deletion)."""


class WriteHooks:
    """The registry: resource type → hooks, in the order they were registered.

    Its write methods are what the endpoints call instead of the service's: with no hook for the
    type they are exactly the generic :class:`ResourceService` write.
    """

    def __init__(self) -> None:
        self._hooks: dict[str, list[WriteHook]] = {}

    def register(self, rtype: str, hook: WriteHook) -> None:
        """Add ``hook`` for ``rtype`` after those already registered (once per hook object)."""
        hooks = self._hooks.setdefault(rtype, [])
        if hook not in hooks:
            hooks.append(hook)

    def hooks(self, rtype: str) -> list[WriteHook]:
        """The hooks of ``rtype``, in order."""
        return list(self._hooks.get(rtype, ()))

    def __contains__(self, rtype: object) -> bool:
        return bool(self._hooks.get(str(rtype)))

    def prepare(self, state: Any, method: str, rtype: str) -> None:
        """Run the hooks' :meth:`WriteHook.prepare` (call before opening the unit of work)."""
        for hook in self._hooks.get(rtype, ()):
            hook.prepare(state, method, rtype)

    # ---- the interactions ----------------------------------------------------------------------
    def create(
        self,
        w: WriteContext,
        rtype: str,
        body: Any,
        *,
        if_none_exist: str | None = None,
        rid: str | None = None,
    ) -> Stored:
        svc = w.service
        hooks = self._hooks.get(rtype, ())
        if not hooks:
            return svc.create(rtype, body, if_none_exist=if_none_exist, rid=rid)
        if if_none_exist is not None:
            existing = svc.find_existing(rtype, if_none_exist)
            if existing is not None:
                return existing
        for hook in hooks:
            stored = hook.create(w, rtype, body, rid)
            if stored is not None:
                return stored
        return _written(
            self._generic(w, rtype, None, lambda: body, lambda: svc.create(rtype, body, rid=rid))
        )

    def update(
        self, w: WriteContext, rtype: str, rid: str, body: Any, *, if_match: str | None = None
    ) -> Stored:
        svc = w.service
        hooks = self._hooks.get(rtype, ())
        if not hooks:
            return svc.update(rtype, rid, body, if_match=if_match)
        for hook in hooks:
            stored = hook.update(w, rtype, rid, body, if_match)
            if stored is not None:
                return stored
        return _written(
            self._generic(
                w, rtype, rid, lambda: body, lambda: svc.update(rtype, rid, body, if_match=if_match)
            )
        )

    def conditional_update(
        self,
        w: WriteContext,
        rtype: str,
        query: list[tuple[str, str]],
        body: Any,
        *,
        if_match: str | None = None,
    ) -> Stored:
        """Resolve the condition to one resource, then :meth:`update` it (or :meth:`create`)."""
        svc = w.service
        if rtype not in self or not isinstance(body, dict):
            return svc.conditional_update(rtype, query, body, if_match=if_match)
        ids = svc.match_ids(rtype, query, "a conditional update")
        if len(ids) > 1:
            raise PreconditionFailed("the conditional update matched more than one resource")
        if ids:
            if body.get("id") not in (None, ids[0]):
                raise InvalidRequest(
                    "the id in the body differs from the resource the condition matched",
                    expression=f"{rtype}.id",
                )
            return self.update(w, rtype, ids[0], {**body, "id": ids[0]}, if_match=if_match)
        if body.get("id") is None:
            stored = self.create(w, rtype, body)
            stored.created = True
            return stored
        return self.update(w, rtype, str(body["id"]), body, if_match=if_match)

    def patch(
        self,
        w: WriteContext,
        rtype: str,
        rid: str,
        operations: Any,
        *,
        if_match: str | None = None,
    ) -> Stored:
        svc = w.service
        hooks = self._hooks.get(rtype, ())
        if not hooks:
            return svc.patch(rtype, rid, operations, if_match=if_match)
        for hook in hooks:
            stored = hook.patch(w, rtype, rid, operations, if_match)
            if stored is not None:
                return stored

        def patched() -> Any:
            current = _current(svc, rtype, rid)
            return None if current is None else apply_patch(copy.deepcopy(current), operations)

        return _written(
            self._generic(
                w, rtype, rid, patched, lambda: svc.patch(rtype, rid, operations, if_match=if_match)
            )
        )

    def delete(self, w: WriteContext, rtype: str, rid: str) -> Stored | None:
        svc = w.service
        hooks = self._hooks.get(rtype, ())
        if not hooks:
            return svc.delete(rtype, rid)
        for hook in hooks:
            stored = hook.delete(w, rtype, rid)
            if stored is not None:
                return stored
        return self._generic(w, rtype, rid, None, lambda: svc.delete(rtype, rid))

    def conditional_delete(
        self, w: WriteContext, rtype: str, query: list[tuple[str, str]]
    ) -> Stored | None:
        """Resolve the condition to (at most) one resource, then :meth:`delete` it."""
        svc = w.service
        if rtype not in self:
            return svc.conditional_delete(rtype, query)
        ids = svc.match_ids(rtype, query, "a conditional delete")
        if len(ids) > 1:
            raise PreconditionFailed("the conditional delete matched more than one resource")
        return self.delete(w, rtype, ids[0]) if ids else None

    def _generic(
        self,
        w: WriteContext,
        rtype: str,
        rid: str | None,
        content: Callable[[], Any] | None,
        default: Default,
    ) -> Stored | None:
        hooks = self._hooks.get(rtype, ())
        if content is not None:
            new = content()
            if isinstance(new, dict):
                for hook in hooks:
                    hook.check(w, rtype, rid, new)
        previous = None
        if rid is not None and any(h.wants_previous for h in hooks):
            previous = _current(w.service, rtype, rid)
        stored = default()
        if stored is None or not stored.changed:
            return stored
        written = None if stored.deleted else orjson.loads(stored.content or "{}")
        for hook in hooks:
            hook.after(w, stored, written, previous)
        return stored


def written_or_current(svc: ResourceService, doc: Resource, *, created: bool = False) -> Stored:
    """The version of ``doc`` that ``svc`` (a workflow's service on the request's unit of work) last
    wrote, marked created or not; the current version, unchanged, when it wrote none."""
    for item in reversed(svc.written):
        if (item.rtype, item.rid) == (doc["resourceType"], doc["id"]):
            item.created = created
            return item
    current = svc.read(doc["resourceType"], doc["id"])
    current.changed = False
    return current


def _written(stored: Stored | None) -> Stored:
    if stored is None:  # only a delete writes nothing
        raise RuntimeError("a create, update or patch returned no version")
    return stored


def _current(svc: ResourceService, rtype: str, rid: str) -> Resource | None:
    found = svc.repo.current_content(rtype, rid)
    if found is None or found[1] or not found[3]:
        return None
    doc: Resource = orjson.loads(found[3])
    return doc


_EMPTY = WriteHooks()


def registry(state: Any) -> WriteHooks:
    """The app's registry (``app.state.write_hooks``), created on first use."""
    hooks = getattr(state, "write_hooks", None)
    if hooks is None:
        hooks = WriteHooks()
        state.write_hooks = hooks
    return hooks


def hooks_of(state: Any) -> WriteHooks:
    """The app's registry for reading: an empty one when nothing was registered."""
    hooks = getattr(state, "write_hooks", None)
    return hooks if isinstance(hooks, WriteHooks) else _EMPTY
