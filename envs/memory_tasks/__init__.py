"""Memory tasks: episodes in series that share hidden state (:mod:`lma.envs.memory_tasks.series`).

=============================  ====================================================================
``memory/house-v0``            BabyAI errands in one house per series; later errands revisit objects
``memory/house-control-v0``    the same errands, a new house every episode (memory cannot help)
``memory/facts-v0``            questions about one person per series; later ones were answered before
``memory/facts-control-v0``    the same questions, a new person every episode (memory cannot help)
=============================  ====================================================================

Registered lazily: nothing here imports MiniGrid until a house is made.
"""

from typing import Any


def register_tasks(register: Any) -> None:
    """Register the ``memory/*`` families with ``register(id, entry_point, **kwargs)``."""
    house, facts = "lma.envs.memory_tasks.house:HouseEnv", "lma.envs.memory_tasks.facts:FactsEnv"
    register("memory/house-v0", house, description="BabyAI house, series of 6 errands (3 revisit earlier "
             "objects, tight step budget); oracles: oracle-memory, oracle-no-memory")
    register("memory/house-control-v0", house, series_length=1,
             description="control: the house errands, a new house every episode (memory cannot help)")
    register("memory/facts-v0", facts, description="facts about one person, series of 6 questions (3 asked "
             "again with no document holding the answer); oracles: oracle-memory, oracle-no-memory")
    register("memory/facts-control-v0", facts, series_length=1,
             description="control: the facts questions, a new person every episode (memory cannot help)")
