"""The run folder: what a run leaves on disk, written so that a killed run loses nothing.

::

    runs/<run-id>/
      config.yaml                 everything needed to rerun
      results.jsonl               one line per finished episode, appended atomically
      episodes/<episode-id>/
        trajectory.jsonl          one line per step (lma.core.StepRecord)
        frame-0000.png ...        the frames the agent saw

A results line is written with a single ``os.write`` on a file opened with ``O_APPEND`` and then
fsynced, so concurrent writers never interleave and a crash leaves at most one torn last line,
which :func:`read_results` skips. An episode's folder is written first and its results line last:
an episode is finished exactly when its line is there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import struct
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lma.core import EpisodeResult, StepRecord, to_jsonable
from lma.errors import LmaError, describe_error

FLUSH_SECONDS = 0.5  # how long trajectory lines may wait in memory before they are written


class RunDirError(LmaError):
    """A folder that is not an lma run, or one whose files cannot be read."""


def new_run_id(prefix: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", prefix).strip("-")[:40]
    return f"{stamp}-{slug}-{os.getpid() % 10000:04d}"


def episode_id(agent: str, env: str, seed: int) -> str:
    """The id of the (agent, env, seed) episode: stable, so a resumed run finds it again."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{agent}__{env}__s{seed}")


def append_line(path: Path, row: dict[str, Any]) -> None:
    """Append one JSON line atomically and durably."""
    data = (json.dumps(row, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of a file; a torn or garbled line (from a crash) is skipped."""
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def yaml_problem(exc: Exception) -> str:
    """PyYAML's error as one line, `` (line N): problem``, not its multi-line snippet."""
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    return f"{where}: {getattr(exc, 'problem', None) or exc}"


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """A config in today's schema (:mod:`lma.run.evaluate`); ``lma run`` folders written before
    ``lma run`` became a one-agent evaluation (one ``agent``, one ``env``) are read as one."""
    if "agents" in config or "agent" not in config:
        return config
    agent, env = config.get("agent") or {}, config.get("env", "")
    label = agent.get("name", "agent")
    old = {k: config.pop(k, None) for k in ("agent", "agent_options", "env", "env_kwargs")}
    options = {**({"model": agent["model"]} if agent.get("model") else {}), **(old["agent_options"] or {})}
    return {**config, "agents": [{"label": label, "name": label, "options": options, "config": agent}],
            "envs": [env], "env_args": {env: old["env_kwargs"] or {}},
            "execution": {"workers": 1, "backend": "inline"}}


class RunDir:
    """One run's folder; see the module docstring."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, root: str | Path, run_id: str, config: dict[str, Any]) -> RunDir:
        run = cls(Path(root) / run_id)
        (run.path / "episodes").mkdir(parents=True, exist_ok=True)
        tmp = run.path / "config.yaml.tmp"
        tmp.write_text(yaml.safe_dump(to_jsonable(config), sort_keys=False))
        tmp.replace(run.path / "config.yaml")
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run; a clear error when ``path`` is not one."""
        run = cls(path)
        if not (run.path / "config.yaml").is_file():
            raise RunDirError(f"{path} is not an lma run folder (no config.yaml)")
        return run

    def config(self) -> dict[str, Any]:
        try:
            config = yaml.safe_load((self.path / "config.yaml").read_text())
        except yaml.YAMLError as exc:
            raise RunDirError(f"{self.path / 'config.yaml'} is not valid YAML{yaml_problem(exc)}") from None
        if not isinstance(config, dict):
            raise RunDirError(f"{self.path / 'config.yaml'} does not hold a mapping")
        return upgrade_config(config)

    @property
    def results_path(self) -> Path:
        return self.path / "results.jsonl"

    def results(self) -> list[EpisodeResult]:
        """The finished episodes, each once (the first line of a repeated id wins)."""
        seen: dict[str, EpisodeResult] = {}
        for row in read_jsonl(self.results_path):
            if "episode_id" in row and row["episode_id"] not in seen:
                seen[row["episode_id"]] = EpisodeResult.from_json(row)
        return list(seen.values())

    def add_result(self, result: EpisodeResult) -> None:
        append_line(self.results_path, result.to_json())

    def episode(self, episode_id: str, record_frames: bool = True) -> EpisodeRecorder:
        return EpisodeRecorder(self.path / "episodes" / episode_id, record_frames)

    def trajectory(self, episode_id: str) -> list[dict[str, Any]]:
        path = self.path / "episodes" / episode_id / "trajectory.jsonl"
        if not path.exists():
            raise RunDirError(f"no episode {episode_id!r} in {self.path}")
        return read_jsonl(path)


class EpisodeRecorder:
    """Writes one episode's trajectory and frames; restarting an episode starts it afresh.

    Recording must not slow the loop it records, so it batches its work: trajectory lines are
    kept in memory and written when :data:`FLUSH_SECONDS` have passed since the last write (and
    at ``close``), and PNG frames are encoded (:func:`encode_png`) on one writer thread (zlib
    releases the GIL while compressing, so this runs beside the loop on another core). ``close`` writes what
    is left, waits for the frames and raises :class:`RunDirError` if one could not be saved; a
    failed frame also fails the next ``step``. A hard kill mid-episode loses at most the last
    :data:`FLUSH_SECONDS` of lines, of an episode that has no results line and so reruns anyway.
    """

    def __init__(self, path: Path, record_frames: bool = True):
        self.path, self.record_frames = path, record_frames
        self._file: Any = None
        self._lines: list[str] = []
        self._written_at = time.monotonic()
        self._frames: list[Future] = []
        self._writer: ThreadPoolExecutor | None = None
        path.mkdir(parents=True, exist_ok=True)
        for old in path.iterdir():  # a resumed episode that was cut off leaves a partial trajectory
            old.unlink()

    def frame(self, step: int, image: np.ndarray | None, name: str = "frame") -> str | None:
        """Queue ``image`` to be saved as ``{name}-{step:04d}.png`` and return that file name (or None)."""
        if image is None or not self.record_frames:
            return None
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="lma-frames")
        filename = f"{name}-{step:04d}.png"
        pixels = np.array(image, dtype=np.uint8)  # a copy: the caller may change its array later
        self._frames.append(self._writer.submit(_save_png, pixels, self.path / filename))
        return filename

    def step(self, record: StepRecord) -> None:
        """Append a step (see the class docstring for when it reaches the disk).

        Images a perceiver made (arrays in ``trace["percept"]``, e.g. a set-of-marks frame) are
        saved as PNG files beside the frames, and their file names recorded in their place.
        """
        self._check_frames()
        percept = record.trace.get("percept")
        if isinstance(percept, dict):
            record.trace["percept"] = {
                k: self.frame(record.step, v, k) if isinstance(v, np.ndarray) and v.ndim == 3 else v
                for k, v in percept.items()
            }
        self._lines.append(json_line(record))
        if time.monotonic() - self._written_at >= FLUSH_SECONDS:
            self._write()

    def close(self) -> None:
        self._write()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        self._check_frames(wait=True)

    def _write(self) -> None:
        if self._lines:
            if self._file is None:
                self._file = open(self.path / "trajectory.jsonl", "a", encoding="utf-8")
            self._file.write("".join(self._lines))
            self._file.flush()
            self._lines.clear()
        self._written_at = time.monotonic()

    def _check_frames(self, wait: bool = False) -> None:
        """Forget saved frames; raise for the first that failed (all of them, when ``wait``)."""
        pending, self._frames = self._frames, []
        for future in pending:
            if not (wait or future.done()):
                self._frames.append(future)
            elif (error := future.exception()) is not None:
                self._frames = []
                raise RunDirError(f"could not save a frame in {self.path}: {describe_error(error)}")


def _save_png(pixels: np.ndarray, path: Path) -> None:
    path.write_bytes(encode_png(pixels))


def encode_png(pixels: np.ndarray) -> bytes:
    """An H x W x 3 uint8 image as a PNG file, made for speed: unfiltered rows, zlib level 1.

    Pillow spends most of a frame's time choosing a filter for each row; agent frames (flat
    colours, screenshots) compress well without one. A BabyAI frame (256 x 256) takes 2.1 ms here
    against 10.3 ms with Pillow at the same zlib level (2 busy cores), in 4.8 KB against 3.7 KB.
    Other shapes go through Pillow.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        from io import BytesIO

        from PIL import Image

        out = BytesIO()
        Image.fromarray(pixels).save(out, format="PNG", compress_level=1)
        return out.getvalue()
    height, width = pixels.shape[:2]
    rows = np.zeros((height, 1 + width * 3), np.uint8)  # each row: filter type 0 (none), then RGB
    rows[:, 1:] = pixels.reshape(height, -1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour, no interlace
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def json_line(record: StepRecord) -> str:
    """``record`` as one JSON line, as :func:`lma.core.to_jsonable` writes it.

    The C encoder does the work, with dataclasses and numpy scalars converted as it meets them;
    a record holding an array (which :func:`~lma.core.to_jsonable` leaves out) takes the slow way.
    """
    try:
        text = json.dumps(record, default=_plain, ensure_ascii=False)
    except _HasArray:
        text = json.dumps(to_jsonable(record), ensure_ascii=False)
    return text + "\n"


class _HasArray(Exception):
    pass


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        raise _HasArray
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
