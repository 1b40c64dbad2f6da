"""Serving a local model over an OpenAI-compatible HTTP API (one batched model behind FastAPI)."""
