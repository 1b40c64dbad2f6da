"""``lma serve``: a local model behind an OpenAI-compatible API (:func:`lma.serve.app.serve`)."""

from __future__ import annotations

import argparse

from lma.models.base import DEFAULT_MODEL

HELP = "serve a local model over an OpenAI-compatible API"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model spec (default {DEFAULT_MODEL}), e.g. "
                   "transformers:/path/to/model?device=cuda")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--engine", choices=["transformers", "vllm"], default="transformers",
                   help="transformers: lma's own server for any lma model (default); vllm: exec `vllm serve`")
    p.add_argument("--allow-remote", action="store_true", help="allow binding an address other than loopback")
    p.add_argument("--name", help="the model id clients send and /v1/models lists (default: the spec)")
    p.add_argument("--max-batch", type=int, help="most requests decoded together (default 32)")
    p.add_argument("--batch-wait-ms", type=float, help="how long a batch waits for more requests (default 5)")


def main(args: argparse.Namespace) -> int:
    from lma.serve.app import serve

    serve(args.model, args.host, args.port, engine=args.engine, allow_remote=args.allow_remote, name=args.name,
          max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms)
    return 0
