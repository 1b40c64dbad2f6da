"""``openai:BASE_URL#MODEL`` or ``openai:MODEL``: any OpenAI-compatible chat endpoint.

vLLM, llama.cpp's server, Ollama, ``lma serve`` and hosted APIs all speak this protocol. The base
URL defaults to ``$OPENAI_BASE_URL`` (or OpenAI's) when the target is a bare model name; the key
comes from ``$OPENAI_API_KEY`` (or the variable named by the ``api_key_env`` option). Images are
sent inline as PNG data URLs; a JSON schema is sent as ``response_format``: the OpenAI ``json_schema`` form first, and,
if the server rejects that naming ``response_format`` (llama-cpp-python's server does, with
HTTP 500), the older
``json_object`` + ``schema`` form from then on; ``format=json_object`` starts with the latter.
Images are sent unless ``images=0``; an endpoint that rejects a request with
images (an HTTP 400, 415, 422 or 5xx answer) is taken to be text-only from then on (logged);
timeouts, unreachable servers and auth or rate-limit answers never turn images off. Transient failures (connection errors, 429, 5xx) are retried with backoff; other HTTP errors
surface as :class:`ModelError` with the server's message.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import time
from typing import Any

import httpx
import numpy as np

from lma.core import Usage
from lma.errors import describe_error
from lma.models.base import ChatModel, Completion, ModelError, parse_json

log = logging.getLogger(__name__)


def image_data_url(image: np.ndarray) -> str:
    """An RGB array as a ``data:image/png;base64,...`` URL."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def image_from_data_url(url: str) -> np.ndarray:
    """The RGB array of a ``data:image/...;base64,`` URL (the inverse of :func:`image_data_url`).

    Only inline images are read: an ``http(s)`` URL is refused, so nothing is ever fetched.
    Raises ValueError with a one-line reason.
    """
    from PIL import Image, UnidentifiedImageError

    if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
        raise ValueError("images must be inline data:image/...;base64, URLs (nothing is fetched)")
    try:
        data = base64.b64decode(url.split(";base64,", 1)[1], validate=True)
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    except (ValueError, UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"the data URL does not hold a readable image ({exc})") from None


def with_images(messages: list[dict[str, Any]], images) -> list[dict[str, Any]]:
    """Attach images to the last user message as OpenAI content parts."""
    if not len(images):
        return messages
    out = [dict(m) for m in messages]
    last = max(i for i, m in enumerate(out) if m["role"] == "user")
    parts = [{"type": "text", "text": out[last]["content"]}]
    parts += [{"type": "image_url", "image_url": {"url": image_data_url(img)}} for img in images]
    out[last]["content"] = parts
    return out


class _Answered(ModelError):
    """The endpoint answered with an HTTP error ``status``."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status

    def rejects_content(self) -> bool:
        """Whether the answer could mean "I cannot read this request" (e.g. images to a text model)."""
        return self.status in (400, 415, 422) or self.status >= 500


class _Rejected(_Answered):
    """An HTTP error that blames ``response_format``: maybe the other form is understood."""


class OpenAICompatModel(ChatModel):
    supports_images = True

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 60.0,
                 retries: int = 2, response_format: str = "json_schema", images: bool = True):
        self.supports_images = images
        self.base_url, self.model, self.retries, self.response_format = base_url.rstrip("/"), model, retries, response_format
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=timeout, headers=headers)

    def _response_format(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.response_format == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "tool_call", "schema": schema, "strict": True}}

    def complete(self, messages, *, images=(), schema=None, max_tokens=256, temperature=0.0) -> Completion:
        images = images if self.supports_images else ()
        body: dict[str, Any] = {
            "model": self.model,
            "messages": with_images(messages, images),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if schema is not None:
            body["response_format"] = self._response_format(schema)
        start = time.perf_counter()
        try:
            data = self._post_chat(body, schema)
        except _Answered as exc:
            if not len(images) or not exc.rejects_content():
                raise
            # A text-only model behind the endpoint (llama.cpp with a text GGUF): stop sending images.
            log.warning("%s failed with images (%s); sending text only from now on", self.base_url, exc)
            self.supports_images = False
            return self.complete(messages, schema=schema, max_tokens=max_tokens, temperature=temperature)
        try:
            text = data["choices"][0]["message"].get("content") or ""
        except (KeyError, IndexError, TypeError):
            raise ModelError(f"{self.base_url} answered without choices: {str(data)[:200]}") from None
        usage = data.get("usage") or {}
        return Completion(
            text,
            parse_json(text) if schema is not None else None,
            Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), time.perf_counter() - start,
                  (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0),
        )

    def _post_chat(self, body: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
        """POST a chat request; switch to the older schema form once if the server rejects ours."""
        try:
            return self._post("/chat/completions", body)
        except _Rejected:
            if schema is None or self.response_format == "json_object":
                raise
            self.response_format = "json_object"
            return self._post("/chat/completions", {**body, "response_format": self._response_format(schema)})

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.base_url + path
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.client.post(url, json=body)
            except httpx.TimeoutException:
                if last:
                    raise ModelError(f"{url} did not answer within {self.client.timeout.read}s") from None
            except httpx.TransportError as exc:
                if last:
                    raise ModelError(f"cannot reach {url}: {exc}") from None
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise ModelError(f"{url} answered with non-JSON: {response.text[:200]}") from None
                message = f"{url} answered HTTP {response.status_code}: {response.text[:300]}"
                if "response_format" in body and "response_format" in response.text:
                    raise _Rejected(message, response.status_code)  # some answer 500 to a form they lack
                if response.status_code != 429 and response.status_code < 500 or last:
                    raise _Answered(message, response.status_code)
            time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def check(self) -> None:
        """One ``GET /models``: the endpoint must answer (any HTTP answer will do: some servers
        list no models), so a dead endpoint fails before a run instead of as every episode."""
        url = self.base_url + "/models"
        try:
            self.client.get(url, timeout=10.0)
        except httpx.HTTPError as exc:
            raise ModelError(f"{self.name}: {url} cannot be reached ({describe_error(exc)})") from None

    def close(self) -> None:
        self.client.close()


def from_spec(target: str, **options: str) -> OpenAICompatModel:
    if target.startswith(("http://", "https://")):
        base_url, _, model = target.partition("#")
    else:
        base_url, model = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"), target
    api_key = os.environ.get(options.pop("api_key_env", "OPENAI_API_KEY"))
    try:
        return OpenAICompatModel(
            base_url,
            model or "default",
            api_key=api_key,
            timeout=float(options.pop("timeout", 60)),
            retries=int(options.pop("retries", 2)),
            response_format=options.pop("format", "json_schema"),
            images=options.pop("images", "1") not in ("0", "false", "no"),
        )
    except ValueError as exc:
        raise ModelError(f"bad openai option: {exc}") from None
