"""``lma serve``: an OpenAI-compatible HTTP server for a local model (or any lma model).

::

    lma serve --model transformers:/path/to/model?device=cuda --host 127.0.0.1 --port 8000
    lma run --agent type1 --env ... --model openai:http://127.0.0.1:8000/v1#local

Routes: ``GET /v1/models``, ``POST /v1/chat/completions`` (text and image content parts, images
as ``data:`` URLs only, since the server fetches nothing; ``response_format`` as ``json_schema``,
or ``json_object`` with or without a ``schema``, enforced by the model's constrained decoding;
``stream: true`` answers with server-sent events), and ``GET /health``. Concurrent requests are
answered in batches (:class:`lma.models.batching.Batcher`): a transformers model decodes them in
one forward pass per step, on a GPU through its CUDA-graph decoder.

Errors are JSON in OpenAI's shape, ``{"error": {"message", "type"}}``: a malformed request is
HTTP 400, a model failure 500, and the server goes on serving. It binds loopback unless
``--allow-remote`` is given. ``--engine vllm`` hands the model folder to ``vllm serve`` instead
(when vLLM is installed).
"""

# No `from __future__ import annotations` here: FastAPI reads the route functions' annotations,
# which name classes imported inside build_app.
import asyncio
import ipaddress
import json
import os
import shutil
import socket
import time
import uuid
from typing import Any

from lma.models.base import DEFAULT_MODEL, ChatModel, Completion, ModelError, Request
from lma.errors import LmaError, describe_error

MAX_TOKENS_LIMIT = 32768
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "user"}


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback bind unless allowed: a local model server is for this machine."""
    if allow_remote:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        raise LmaError(f"cannot resolve --host {host!r}") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise LmaError(f"--host {host} is not a loopback address: the server would be reachable from other "
                       "machines; add --allow-remote if that is what you want")


def exec_vllm(model: str, host: str, port: int, name: str | None = None) -> None:
    """Replace this process with ``vllm serve`` for the model folder of the ``transformers:`` spec ``model``."""
    binary = shutil.which("vllm")
    if binary is None:
        raise LmaError("--engine vllm needs vLLM, which is not installed here (pip install vllm, on a machine with "
                       "a CUDA GPU); --engine transformers serves the model with lma's own server")
    backend, _, target = model.partition(":")
    if backend != "transformers" or not target:
        raise LmaError("--engine vllm serves Hugging Face models: give --model transformers:PATH_OR_ID")
    command = [binary, "serve", target.split("?")[0], "--host", host, "--port", str(port),
               "--served-model-name", name or model]
    print("exec " + " ".join(command), flush=True)
    os.execv(binary, command)


# -- requests -----------------------------------------------------------------------------------


class BadRequest(ValueError):
    """A request the server cannot take; answered with HTTP 400 and this message."""


def _images_in(content: list[Any]) -> tuple[str, list[Any]]:
    from lma.models.openai_compat import image_from_data_url

    texts, images = [], []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            try:
                images.append(image_from_data_url(url))
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
        else:
            raise BadRequest(f"unsupported content part {kind!r}: use text and image_url parts")
    return "\n".join(texts), images


def _schema(fmt: Any) -> dict[str, Any] | None:
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise BadRequest("response_format.type must be text, json_object or json_schema")
    if fmt["type"] == "text":
        return None
    schema = (fmt.get("json_schema") or {}).get("schema") if fmt["type"] == "json_schema" else fmt.get("schema")
    if fmt["type"] == "json_schema" and not isinstance(schema, dict):
        raise BadRequest("response_format json_schema needs json_schema.schema, an object")
    return schema if isinstance(schema, dict) else {"type": "object"}


def parse_chat(body: Any, *, takes_images: bool) -> tuple[Request, bool, bool]:
    """``(request, stream, include_usage)`` from a chat-completions body; BadRequest if malformed."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages must be a non-empty list")
    if body.get("tools"):
        raise BadRequest("tools are not supported: send the call's JSON schema as response_format instead")
    if body.get("n", 1) != 1:
        raise BadRequest("only n=1 is supported")
    messages, images = [], []
    for m in raw:
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise BadRequest(f"each message needs a role among {', '.join(ROLES)}")
        content = m.get("content") or ""
        if isinstance(content, list):
            content, found = _images_in(content)
            images += found
        elif not isinstance(content, str):
            raise BadRequest("message content must be a string or a list of parts")
        if m["role"] == "tool":
            content = f"Tool result: {content}"
        messages.append({"role": ROLES[m["role"]], "content": content})
    if images and not takes_images:
        raise BadRequest("this model does not take images")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens")) or 256
    temperature = body.get("temperature", 1.0)
    if not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
        raise BadRequest(f"max_tokens must be an integer from 1 to {MAX_TOKENS_LIMIT}")
    if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        raise BadRequest("temperature must be a number from 0 to 2")
    options = body.get("stream_options") or {}
    request = Request(messages, tuple(images), _schema(body.get("response_format")), max_tokens, float(temperature))
    return request, bool(body.get("stream")), bool(isinstance(options, dict) and options.get("include_usage"))


# -- responses ----------------------------------------------------------------------------------


def _usage(c: Completion) -> dict[str, Any]:
    """OpenAI's usage object; ``cached_tokens`` are the prompt tokens a KV cache spared."""
    return {"prompt_tokens": c.usage.tokens_in, "completion_tokens": c.usage.tokens_out,
            "total_tokens": c.usage.tokens_in + c.usage.tokens_out,
            "prompt_tokens_details": {"cached_tokens": c.usage.tokens_cached}}


def _finish(c: Completion, request: Request) -> str:
    return "length" if c.usage.tokens_out >= request.max_tokens else "stop"


def _error(status: int, message: str) -> Any:
    from fastapi.responses import JSONResponse

    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)


def build_app(model: ChatModel, *, name: str | None = None, max_batch: int | None = None,
              batch_wait_ms: float | None = None) -> Any:
    """The FastAPI app serving ``model``; see the module docstring."""
    from fastapi import FastAPI
    from fastapi import Request as HttpRequest
    from fastapi.responses import StreamingResponse
    from starlette.exceptions import HTTPException

    from lma.models.batching import Batcher

    batcher: Batcher = getattr(model, "batcher", None) or Batcher(lambda requests, streams: model.complete_batch(requests))
    if max_batch is not None:
        batcher.max_batch = max_batch
    if batch_wait_ms is not None:
        batcher.max_wait = batch_wait_ms / 1000
    name = name or model.name
    app = FastAPI(title="lma serve", docs_url=None, redoc_url=None)
    app.state.batcher = batcher

    @app.exception_handler(HTTPException)
    async def http_error(request: HttpRequest, exc: HTTPException) -> Any:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: HttpRequest, exc: Exception) -> Any:
        return _error(500, describe_error(exc))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "lma"}]}

    @app.post("/v1/chat/completions")
    async def chat(http: HttpRequest) -> Any:
        try:
            body = json.loads(await http.body())
            request, stream, include_usage = parse_chat(body, takes_images=model.supports_images)
        except json.JSONDecodeError as exc:
            return _error(400, f"the body is not valid JSON: {exc}")
        except BadRequest as exc:
            return _error(400, str(exc))
        ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if stream:
            events = _events(batcher, request, include_usage, ident=ident, created=created, name=name)
            return StreamingResponse(events, media_type="text/event-stream")
        try:
            completion = await asyncio.wrap_future(batcher.submit(request))
        except ModelError as exc:
            return _error(500, f"the model failed: {exc}")
        return {"id": ident, "object": "chat.completion", "created": created, "model": name,
                "choices": [{"index": 0, "finish_reason": _finish(completion, request),
                             "message": {"role": "assistant", "content": completion.text}}],
                "usage": _usage(completion)}

    return app


async def _events(batcher: Any, request: Request, include_usage: bool, *, ident: str, created: int, name: str) -> Any:
    """Server-sent events for one streamed completion, in OpenAI's chunk format."""
    loop, queue = asyncio.get_running_loop(), asyncio.Queue()
    done = object()
    future = batcher.submit(request, on_text=lambda piece: loop.call_soon_threadsafe(queue.put_nowait, piece))
    future.add_done_callback(lambda _: loop.call_soon_threadsafe(queue.put_nowait, done))

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if delta is not None else []
        payload = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": name,
                   "choices": choices, **extra}
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    while (piece := await queue.get()) is not done:
        yield chunk({"content": piece})
    error = future.exception()
    if error is not None:
        yield f"data: {json.dumps({'error': {'message': f'the model failed: {error}', 'type': 'server_error'}})}\n\n"
    else:
        completion = future.result()
        yield chunk({}, _finish(completion, request))
        if include_usage:
            yield chunk(None, usage=_usage(completion))
    yield "data: [DONE]\n\n"


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise LmaError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def serve(model: str = DEFAULT_MODEL, host: str = "127.0.0.1", port: int = 8000, *, engine: str = "transformers",
          allow_remote: bool = False, name: str | None = None, max_batch: int | None = None,
          batch_wait_ms: float | None = None) -> None:
    """Serve the model ``model`` (a spec) on ``host:port`` until interrupted; ``engine="vllm"`` execs vLLM."""
    check_host(host, allow_remote)
    if engine == "vllm":
        exec_vllm(model, host, port, name)
        return
    try:
        import uvicorn
    except ImportError:
        raise LmaError("lma serve needs fastapi and uvicorn: pip install 'lma[serve]'") from None
    from lma.models import load_model

    _check_port(host, port)
    chat_model = load_model(model)
    app = build_app(chat_model, name=name, max_batch=max_batch, batch_wait_ms=batch_wait_ms)
    print(f"lma serve: {chat_model.name} at http://{host}:{port}/v1 (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    chat_model.close()
