"""Memory backends behind one protocol (:mod:`lma.memory.base`); ``make_memory(spec)`` builds one.

Specs (:func:`lma.registry.parse_spec`): ``none``, ``window``, ``chroma`` (a persistent local
store), ``chroma:NAME``, ``chroma+http://HOST:PORT`` for a Chroma server, or ``graph:NAME`` (an
entity graph over a Chroma store, :mod:`lma.memory.graph`); options follow a
``?``, e.g. ``chroma:shared?lock_timeout=5&collection=babyai``.
"""

from lma.memory.base import Memory, MemoryItem, NoMemory, WindowMemory
from lma.registry import memories

memories.register("none", NoMemory, description="no long-term memory")
memories.register("window", WindowMemory, description="short-term: the last k items of this process")
memories.register("chroma", "lma.memory.chroma:from_spec",
                  description="long-term: Chroma under $LMA_HOME/memory/NAME, or a server (chroma+http://HOST:PORT)")
memories.register("graph", "lma.memory.graph:from_spec",
                  description="long-term: an entity graph over Chroma vectors, recalled by personalized PageRank")


def make_memory(spec: str | Memory | None) -> Memory:
    """The memory for a spec string (see the module docstring) or the given instance."""
    return memories.build(spec or "none")


__all__ = ["Memory", "MemoryItem", "NoMemory", "WindowMemory", "make_memory"]
