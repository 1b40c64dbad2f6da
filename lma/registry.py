"""Registries for the five nouns (agent, env, tool, memory, model) and perceivers, with entry points.

Each kind has one :class:`Registry`. A name maps to an *entry point*: a callable, or a string
``"package.module:attr"`` (:func:`load_object`) imported only when the name is built, so ``lma
list`` stays fast and optional extras are never imported until used. Outside packages add names
through the entry-point groups ``lma.agents``, ``lma.envs``, ``lma.tools``, ``lma.memory``,
``lma.models`` and ``lma.perceivers``: an entry point there names a module (or a callable) that
calls :func:`register` when loaded; one that fails to load is logged, named, and skipped.

Everything a user names is one spec grammar (:func:`parse_spec`)::

    NAME[:TARGET][?KEY=VALUE&...]        llamacpp:smollm2-135m   chroma:babyai?lock_timeout=5
                                         ocr   caption:transformers:/models/vlm
    NAME+SCHEME://REST                   shorthand for NAME:SCHEME://REST (chroma+http://HOST:PORT)

:meth:`Registry.build` turns a spec (or passes an instance through) into the thing, with the
target as ``target=`` and the options as keywords; options a factory does not take are a clear
:class:`LmaError`. Asking for an unknown name raises :class:`UnknownNameError`, which says which
registered names are closest.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import parse_qsl

from lma.errors import LmaError, UnknownNameError, describe_error

log = logging.getLogger(__name__)

KINDS = ("agent", "env", "tool", "memory", "model", "perceiver")
PLURALS = {"agent": "agents", "env": "envs", "tool": "tools", "memory": "memories", "model": "models",
           "perceiver": "perceivers"}
ENTRY_POINT_GROUPS = {kind: "lma." + ("memory" if kind == "memory" else PLURALS[kind]) for kind in KINDS}
# The built-in modules whose import registers lma's own names.
BUILTIN_MODULES = {kind: ["lma.perception" if kind == "perceiver" else ENTRY_POINT_GROUPS[kind]] for kind in KINDS}


@dataclass(frozen=True)
class ParsedSpec:
    """A spec string taken apart: ``NAME[:TARGET][?KEY=VALUE&...]``."""

    name: str
    target: str | None
    options: dict[str, str]


def parse_spec(spec: str, kind: str = "spec", *, raw_target: bool = False) -> ParsedSpec:
    """Take a spec apart (grammar in the module docstring); ``raw_target`` keeps a ``?`` in the
    target, for targets that are specs themselves (``caption:transformers:DIR?device=cuda``)."""
    if not isinstance(spec, str) or not spec.strip():
        raise LmaError(f"malformed {kind} spec {spec!r}: expected NAME[:TARGET][?KEY=VALUE&...]")
    head, query = spec.strip(), ""
    name, sep, rest = head.partition(":")
    if not raw_target:
        if "?" in name:
            name, _, query = name.partition("?")
        else:
            rest, _, query = rest.partition("?")
    if "+" in name:  # NAME+SCHEME://REST
        name, scheme = name.split("+", 1)
        rest, sep = f"{scheme}:{rest}", ":"
    if not name or (sep and not rest):
        raise LmaError(f"malformed {kind} spec {spec!r}: expected NAME[:TARGET][?KEY=VALUE&...]")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise LmaError(f"malformed options in {kind} spec {spec!r}: expected ?KEY=VALUE&KEY=VALUE") from None
    return ParsedSpec(name, rest if sep else None, options)


def load_object(path: str, what: str = "entry point") -> Any:
    """The object a ``"package.module:attr.sub"`` string names, with clear errors."""
    module_name, _, attr = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or str(exc)
        if missing == module_name or module_name.startswith(f"{missing}."):
            raise LmaError(f"cannot import {module_name!r} for {what} {path!r}: no such module") from None
        raise LmaError(f"{what} {path!r} needs a package that is not installed ({missing}); "
                       "install the matching extra, e.g. `pip install 'lma[web]'`") from exc
    for part in attr.split(".") if attr else ():
        try:
            target = getattr(target, part)
        except AttributeError:
            raise LmaError(f"{module_name} has no {part!r} (from {what} {path!r})") from None
    return target


def check_call(factory: Callable[..., Any], kwargs: dict[str, Any], what: str) -> None:
    """Raise :class:`LmaError` when ``factory`` cannot take ``kwargs`` or lacks a required one
    (checked on its signature before it runs, so a TypeError inside it is never mistaken for a bad
    option)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: let it speak for itself
        return
    params = signature.parameters.values()
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not any(p.kind == p.VAR_KEYWORD for p in params):
        unknown = sorted(set(kwargs) - set(named))
        if unknown:
            takes = f"it takes {', '.join(named)}" if named else "it takes no options"
            raise LmaError(f"{what} does not take {', '.join(unknown)} ({takes})")
    missing = [p.name for p in params if p.default is p.empty and p.name not in kwargs
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if missing:
        raise LmaError(f"{what} needs {', '.join(missing)}")


@dataclass
class Spec:
    """A registered name: how to build it, and what ``lma list`` says about it."""

    name: str
    entry_point: Callable[..., Any] | str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    raw_target: bool = False
    targets: dict[str, str] = field(default_factory=dict)  # named "NAME:TARGET" specs -> what they are

    def load(self) -> Callable[..., Any]:
        if callable(self.entry_point):
            return self.entry_point
        return load_object(self.entry_point, repr(self.name))


class Registry:
    """Names of one kind of thing; ``make(name, **kwargs)`` builds one."""

    def __init__(self, kind: str):
        self.kind = kind
        self._specs: dict[str, Spec] = {}
        self._discovered = False
        self._listeners: list[Callable[[list[str]], None]] = []

    def on_names(self, listener: Callable[[list[str]], None]) -> None:
        """Call ``listener(names)`` once discovery is done, and again whenever a name is added later
        (lma's envs use it to appear in Gymnasium's registry too)."""
        self._listeners.append(listener)
        if self._discovered:
            listener(self.names())

    def _announce(self) -> None:
        names = sorted(self._specs)
        for listener in self._listeners:
            listener(names)

    def register(
        self,
        name: str,
        entry_point: Callable[..., Any] | str,
        *,
        description: str = "",
        overwrite: bool = False,
        raw_target: bool = False,
        targets: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Add ``name``; ``kwargs`` are defaults passed to the entry point on ``make``;
        ``raw_target``: the target is a spec itself (see :func:`parse_spec`); ``targets``: specs of
        this name that are worth listing (``llamacpp:smollm2-135m``), with what each is."""
        if name in self._specs and not overwrite:
            existing = self._specs[name]
            if existing.entry_point == entry_point and existing.kwargs == kwargs:
                return
            raise LmaError(f"{self.kind} {name!r} is already registered")
        self._specs[name] = Spec(name, entry_point, dict(kwargs), description, raw_target, dict(targets or {}))
        if self._discovered:
            self._announce()

    def spec(self, name: str) -> Spec:
        self.discover()
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, list(self._specs), PLURALS[self.kind]) from None

    def make(self, name: str, **kwargs: Any) -> Any:
        """Build the registered ``name`` (no spec parsing) with ``kwargs`` over its defaults."""
        spec = self.spec(name)
        factory = spec.load()
        options = {**spec.kwargs, **kwargs}
        check_call(factory, options, f"{self.kind} {name!r}")
        return factory(**options)

    def build(self, spec: Any, **options: Any) -> Any:
        """The thing a spec string names (see the module docstring); anything else is returned as is."""
        if not isinstance(spec, str):
            return spec
        name = spec.strip().partition(":")[0].partition("?")[0].partition("+")[0]
        parsed = parse_spec(spec, self.kind, raw_target=name in self and self.spec(name).raw_target)
        target = {"target": parsed.target} if parsed.target is not None else {}
        return self.make(parsed.name, **parsed.options, **target, **options)

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
                if callable(loaded) and not isinstance(loaded, type):
                    loaded()
            except Exception as exc:  # a broken plugin must not break lma: name it and go on
                log.warning("skipped plugin %s (entry point %r in group %s): %s", ep.value, ep.name,
                            ENTRY_POINT_GROUPS[self.kind], describe_error(exc))
        self._announce()


REGISTRIES: dict[str, Registry] = {kind: Registry(kind) for kind in KINDS}
agents, envs, tools, memories, models, perceivers = (REGISTRIES[k] for k in KINDS)


def registry(kind: str) -> Registry:
    """The registry of ``kind`` (one of :data:`KINDS`, singular or plural)."""
    singular = {plural: kind for kind, plural in PLURALS.items()}
    kind = singular.get(kind, kind)
    if kind not in REGISTRIES:
        raise UnknownNameError("kind", kind, list(KINDS))
    return REGISTRIES[kind]


def register(id: str, entry_point: Callable[..., Any] | str, **kwargs: Any) -> None:
    """Register an env, like ``gymnasium.register``: ``lma.register("web/login-v0", entry_point=...)``."""
    envs.register(id, entry_point, **kwargs)
