"""Memory backends behind one protocol (:mod:`lma.memory.base`); ``make_memory(spec)`` builds one.

Specs: ``none``, ``window``, ``chroma`` (a persistent local store), ``chroma:NAME``, or
``chroma+http://HOST:PORT`` for a Chroma server; options follow a ``?`` as in model specs, e.g.
``chroma:shared?lock_timeout=5&collection=babyai``.
"""

from urllib.parse import parse_qsl

from lma.memory.base import Memory, MemoryItem, NoMemory, WindowMemory
from lma.registry import memories

memories.register("none", NoMemory, description="no long-term memory")
memories.register("window", WindowMemory, description="short-term: the last k items of this process")
memories.register("chroma", "lma.memory.chroma:from_spec",
                  description="long-term: Chroma under $LMA_HOME/memory/NAME, or a server (chroma+http://HOST:PORT)")


def make_memory(spec: str | Memory | None) -> Memory:
    """The memory for a spec string (see the module docstring) or the given instance."""
    if isinstance(spec, Memory):
        return spec
    spec, _, query = (spec or "none").partition("?")
    options = dict(parse_qsl(query))
    backend, _, target = spec.partition(":")
    if backend.startswith("chroma+"):
        backend, target = "chroma", spec.split("+", 1)[1]
    return memories.make(backend, **options, **({"target": target} if target else {}))


__all__ = ["Memory", "MemoryItem", "NoMemory", "WindowMemory", "make_memory"]
