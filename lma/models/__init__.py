"""Model backends behind one :class:`ChatModel` protocol; see :mod:`lma.models.base`.

Backends register here by name; ``load_model("BACKEND:TARGET")`` builds one. Outside packages add
backends through the ``lma.models`` entry-point group.
"""

from lma.models.base import DEFAULT_MODEL, ChatModel, Completion, ModelError, Request, load_model
from lma.models.shipped import named_models
from lma.registry import models

models.register("llamacpp", "lma.models.llamacpp:from_spec", description="GGUF models via llama.cpp (embedded default)",
                targets=named_models())
models.register("openai", "lma.models.openai_compat:from_spec", description="any OpenAI-compatible endpoint")
models.register("scripted", "lma.models.scripted:from_spec", description="replays outputs from a JSONL file")
models.register("transformers", "lma.models.transformers_backend:from_spec",
                description="local Hugging Face LLMs and VLMs (CPU or CUDA), batched, xgrammar-constrained")
models.register("teacher", "lma.envs.memory_tasks.teachers:from_spec",
                description="scripted planners that play an env family from the prompt alone (training data)")
models.register("langchain", "lma.models.langchain_backend:from_spec", description="any LangChain BaseChatModel")

__all__ = ["DEFAULT_MODEL", "ChatModel", "Completion", "ModelError", "Request", "load_model"]
