"""Which web envs exist, found without importing Playwright, ``miniwob`` or any site.

MiniWoB++ tasks are the pages in the installed ``miniwob`` wheel, located with
``importlib.util.find_spec`` (which does not import the package); lma's own sites are listed in
:data:`SITE_TASKS`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

# (env id, "module:class", defaults, description) of the tasks on lma's own loopback sites.
SITE_TASKS: list[tuple[str, str, dict[str, Any], str]] = [
    ("web/shop-buy-v0", "lma.envs.web.shop:ShopEnv", {"task": "buy"},
     "Loopback Shop: buy N of a named product for a customer; checked on the order the shop receives"),
    ("web/shop-cheapest-v0", "lma.envs.web.shop:ShopEnv", {"task": "cheapest"},
     "Loopback Shop: buy the cheapest product of a category; checked on the order the shop receives"),
    ("web/shop-price-v0", "lma.envs.web.shop:ShopEnv", {"task": "price"},
     "Loopback Shop: answer a product's price; checked against the catalog"),
    ("web/shop-lookalike-v0", "lma.envs.web.shop:ShopEnv", {"task": "lookalike"},
     "Loopback Shop prints: find the print like the picture but in another colour (multimodal search tool)"),
    ("web/wiki-qa-v0", "lma.envs.web.wiki:WikiEnv", {"task": "qa"},
     "Loopwiki (a made-up world): one-hop question from an infobox; exact match with the ground truth"),
    ("web/wiki-multihop-v0", "lma.envs.web.wiki:WikiEnv", {"task": "multihop"},
     "Loopwiki: two-hop question, following a link between articles; exact match with the ground truth"),
    ("web/wiki-edit-v0", "lma.envs.web.wiki:WikiEnv", {"task": "edit"},
     "Loopwiki: add a sentence to an article; checked on the revision the wiki stores"),
]


def html_dir() -> Path | None:
    """The ``html`` folder of the installed ``miniwob`` package, or None."""
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "html"
    return folder if folder.is_dir() else None


def task_names() -> list[str]:
    """Every task page in the installed package: MiniWoB++ tasks, then ``flight.<site>``."""
    root = html_dir()
    if root is None:
        return []
    tasks = sorted(p.stem for p in (root / "miniwob").glob("*.html"))
    tasks += sorted(f"flight.{p.parent.name}" for p in (root / "flight").glob("*/wrapper.html"))
    return tasks


def register_envs(register: Callable[..., Any]) -> None:
    """Register ``miniwob/<task>-v0`` for every installed MiniWoB++ task, and lma's site tasks."""
    for task in task_names():
        register(f"miniwob/{task}-v0", "lma.envs.web.miniwob:MiniWoBEnv", task=task,
                 description=f"MiniWoB++ {task} in real Chromium via lma's browser tool")
    for env_id, entry_point, defaults, description in SITE_TASKS:
        register(env_id, entry_point, description=description, **defaults)
