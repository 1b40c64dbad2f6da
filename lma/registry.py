"""Registries for the five nouns (agent, env, tool, memory, model), with entry-point discovery.

Each noun has one :class:`Registry`. A name maps to an *entry point*: a callable, or a string
``"package.module:attr"`` imported only when the name is made, so ``lma list`` stays fast and
optional extras are never imported until used. Outside packages add names through the entry-point
groups ``lma.agents``, ``lma.envs``, ``lma.tools``, ``lma.memory`` and ``lma.models``: an entry
point there names a module (or a callable) that calls :func:`register` when loaded. Asking for an
unknown name raises :class:`UnknownNameError`, which says which registered names are closest.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger(__name__)

KINDS = ("agent", "env", "tool", "memory", "model")
ENTRY_POINT_GROUPS = {
    "agent": "lma.agents",
    "env": "lma.envs",
    "tool": "lma.tools",
    "memory": "lma.memory",
    "model": "lma.models",
}
# The built-in modules whose import registers lma's own names.
BUILTIN_MODULES = {
    "agent": ["lma.agents"],
    "env": ["lma.envs"],
    "tool": ["lma.tools"],
    "memory": ["lma.memory"],
    "model": ["lma.models"],
}


class LmaError(Exception):
    """Base of the errors lma reports to users as one clear line (the CLI exits with code 2)."""


def describe_error(exc: BaseException) -> str:
    """One line for an exception recorded on a step or an episode: its type and message."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class UnknownNameError(LmaError, KeyError):
    """A name that no registry holds; the message lists the closest registered names."""

    def __init__(self, kind: str, name: str, known: list[str]):
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}{hint} (see `lma list {kind}s`)")
        self.kind, self.name, self.close = kind, name, close

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


@dataclass
class Spec:
    """A registered name: how to build it, and what ``lma list`` says about it."""

    name: str
    entry_point: Callable[..., Any] | str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def load(self) -> Callable[..., Any]:
        if callable(self.entry_point):
            return self.entry_point
        module_name, _, attr = self.entry_point.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise LmaError(
                f"{self.name!r} needs a package that is not installed ({exc.name or exc}); "
                "install the matching extra, e.g. `pip install 'lma[web]'`"
            ) from exc
        for part in attr.split(".") if attr else ():
            target = getattr(target, part)
        return target


class Registry:
    """Names of one kind of thing; ``make(name, **kwargs)`` builds one."""

    def __init__(self, kind: str):
        self.kind = kind
        self._specs: dict[str, Spec] = {}
        self._discovered = False

    def register(
        self,
        name: str,
        entry_point: Callable[..., Any] | str,
        *,
        description: str = "",
        overwrite: bool = False,
        **kwargs: Any,
    ) -> None:
        """Add ``name``; ``kwargs`` are defaults passed to the entry point on ``make``."""
        if name in self._specs and not overwrite:
            existing = self._specs[name]
            if existing.entry_point == entry_point and existing.kwargs == kwargs:
                return
            raise LmaError(f"{self.kind} {name!r} is already registered")
        self._specs[name] = Spec(name, entry_point, dict(kwargs), description)

    def spec(self, name: str) -> Spec:
        self.discover()
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, list(self._specs)) from None

    def make(self, name: str, **kwargs: Any) -> Any:
        spec = self.spec(name)
        return spec.load()(**{**spec.kwargs, **kwargs})

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._specs)

    def specs(self) -> list[Spec]:
        return [self._specs[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        self.discover()
        return name in self._specs

    def discover(self) -> None:
        """Import lma's own registrations and the outside packages' entry points, once."""
        if self._discovered:
            return
        self._discovered = True
        for module in BUILTIN_MODULES[self.kind]:
            importlib.import_module(module)
        for ep in entry_points(group=ENTRY_POINT_GROUPS[self.kind]):
            try:
                loaded = ep.load()
            except Exception as exc:  # a broken plugin must not break lma
                log.warning("could not load %s entry point %r: %s", self.kind, ep.name, exc)
                continue
            if callable(loaded) and not isinstance(loaded, type):
                loaded()


REGISTRIES: dict[str, Registry] = {kind: Registry(kind) for kind in KINDS}
agents, envs, tools, memories, models = (REGISTRIES[k] for k in KINDS)


def registry(kind: str) -> Registry:
    """The registry of ``kind`` (one of :data:`KINDS`, singular or plural)."""
    singular = {"agents": "agent", "envs": "env", "tools": "tool", "memories": "memory", "models": "model"}
    kind = singular.get(kind, kind)
    if kind not in REGISTRIES:
        raise UnknownNameError("kind", kind, list(KINDS))
    return REGISTRIES[kind]


def register(id: str, entry_point: Callable[..., Any] | str, **kwargs: Any) -> None:
    """Register an env, like ``gymnasium.register``: ``lma.register("web/login-v0", entry_point=...)``."""
    envs.register(id, entry_point, **kwargs)


def make(id: str, **kwargs: Any) -> Any:
    """Make an env by id: an lma env, or any Gymnasium env wrapped so its actions are tools."""
    if id in envs:
        return envs.make(id, **kwargs)
    from lma.envs.gym_wrapper import make_gymnasium

    return make_gymnasium(id, known=envs.names(), **kwargs)
