"""Dynamic batching: requests from many threads answered together in one model call.

Many agents running at once (threads of one evaluation, or the clients of ``lma serve``) each ask
for one completion at a time. A :class:`Batcher` queues those requests and, on a single worker
thread, takes whatever has arrived (waiting up to ``max_wait`` seconds after the first for more,
up to ``max_batch``; only a millisecond while requests come one at a time, so a lone agent does
not pay for the wait) and answers the group with one ``run(requests, streams)`` call, so a local model
does one forward pass per step for the whole group instead of one per agent. One thread owns the
model: compiled CUDA graphs and non-thread-safe tokenizers stay on the thread that made them.

A failing group is retried one request at a time, so a single bad request (an image the processor
rejects, say) fails alone and the others are still answered. Streaming callers pass ``on_text``,
which receives the answer's text in pieces (see :class:`TextStream`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from lma.models.base import Completion, ModelError, Request
from lma.errors import describe_error

OnText = Callable[[str], None]
RunBatch = Callable[[list[Request], list["TextStream | None"]], list[Completion]]


class TextStream:
    """Sends a growing answer to ``on_text`` as new pieces, never repeating or taking back text.

    ``update(text)`` is called with the whole answer so far (decoded again at every step); only
    the new suffix is sent, and a trailing partial UTF-8 character is held back until complete.
    """

    def __init__(self, on_text: OnText):
        self.on_text, self.sent = on_text, ""

    def update(self, text: str, *, final: bool = False) -> None:
        """Send what ``text`` adds to what was sent; ``final`` sends a trailing partial character too."""
        text = text if final else text.rstrip("\ufffd")
        if len(text) > len(self.sent) and text.startswith(self.sent):
            piece, self.sent = text[len(self.sent) :], text
            self.on_text(piece)


@dataclass
class _Item:
    request: Request
    stream: TextStream | None
    future: Future = field(default_factory=Future)
    submitted: float = field(default_factory=time.perf_counter)


class RequestQueue:
    """The front of a model that answers requests on one worker thread of its own.

    ``submit`` queues a request and returns its future; the thread (``_loop``, the subclass's) is
    started by the first request; ``close`` stops it once the requests already queued are answered
    (a ``None`` in the queue says stop), then ``_release`` frees what the loop made. What goes in
    the queue is the subclass's record of a request (``_queued``), which carries the future.
    """

    thread_name = "lma-requests"
    join_timeout = 60.0

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, request: Request, on_text: OnText | None = None) -> Future:
        """Queue one request; the future gives its :class:`Completion` (or raises ModelError)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True, name=self.thread_name)
                self._thread.start()
        item = self._queued(request, TextStream(on_text) if on_text else None)
        self._queue.put(item)
        return item.future

    def complete(self, request: Request) -> Completion:
        return self.submit(request).result()

    def complete_all(self, requests: list[Request]) -> list[Completion]:
        """Answer a list of requests; they are queued together, so they share batches. Raises the
        first failed request's error, if any."""
        futures = [self.submit(r) for r in requests]
        return [f.result() for f in futures]

    def close(self) -> None:
        """Stop the worker thread after the requests already queued, then release its resources."""
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=self.join_timeout)
                self._thread = None
            self._release()

    def _queued(self, request: Request, stream: TextStream | None) -> Any:
        """The record of a request that goes in the queue; it has a ``future``."""
        raise NotImplementedError

    def _loop(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """Free what the loop made; called by ``close`` once the thread has stopped."""


class Batcher(RequestQueue):
    """Groups concurrently submitted requests into calls of ``run``; see the module docstring."""

    def __init__(self, run: RunBatch, *, max_batch: int = 32, max_wait: float = 0.005, name: str = "lma-batcher"):
        if max_batch < 1:
            raise ModelError("max_batch must be at least 1")
        super().__init__()
        self.run, self.max_batch, self.max_wait, self.thread_name = run, max_batch, max_wait, name
        self._last_size = 1

    def _queued(self, request: Request, stream: TextStream | None) -> _Item:
        return _Item(request, stream)

    def _take(self) -> list[_Item] | None:
        first = self._queue.get()
        if first is None:
            return None
        wait = self.max_wait if self._last_size > 1 else min(self.max_wait, 0.001)
        batch, deadline = [first], time.perf_counter() + wait
        while len(batch) < self.max_batch:
            remaining = deadline - time.perf_counter()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # answer this batch, then stop
                break
            batch.append(item)
        self._last_size = len(batch)
        return batch

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            self._answer(batch)

    def _answer(self, batch: list[_Item]) -> None:
        try:
            results = self.run([i.request for i in batch], [i.stream for i in batch])
        except Exception as exc:
            if len(batch) > 1:
                for item in batch:  # find the request that fails; answer the rest
                    self._answer([item])
                return
            error = exc if isinstance(exc, ModelError) else ModelError(describe_error(exc))
            batch[0].future.set_exception(error)
            return
        now = time.perf_counter()
        for item, completion in zip(batch, results):
            completion.usage.latency = now - item.submitted  # what the caller waited, queueing included
            if item.stream is not None:
                item.stream.update(completion.text, final=True)
            item.future.set_result(completion)
