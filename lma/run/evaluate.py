"""Evaluations: agents x envs x seeds, side by side, in parallel, resumable (``lma eval`` and ``lma run``).

There is one way to run episodes: :func:`prepare` turns settings into a run folder and its jobs,
:func:`run_jobs` runs them. ``lma run`` is an evaluation of one agent on one env whose jobs run in
this process (``backend: inline``); ``lma eval`` runs them in worker processes or on Ray. Both write
the same ``config.yaml`` schema and both resume.

What a user must know:

* Every (agent, env, seed) episode is one job, and every agent gets the same seeds
  (``seed, seed+1, ...``), so two agents can be compared pair by pair (:mod:`lma.report.stats`).
* Jobs run in worker processes (``--backend local``) or as Ray tasks (``--backend ray``); see
  :mod:`lma.run.workers`. An episode past ``--episode-timeout`` is killed with its worker and recorded
  with its error; a crashed worker is replaced; the run goes on.
* Agents whose model runs locally (``llamacpp:``, ``transformers:``) share one model server per
  model spec (:mod:`lma.run.model_server`) instead of loading the weights in every worker.
* ``results.jsonl`` gets one line per finished episode, appended atomically by this process
  alone. Kill the run at any moment (even ``kill -9``) and ``lma eval --resume RUN_DIR`` runs
  exactly the episodes that have no line yet. A resume may change how the run executes
  (``--workers``, ``--backend``) but not what it runs: a different config exits with code 2.

Settings come from :data:`DEFAULTS`, overlaid by a YAML file and then by the caller's own (the CLI's flags).
"""

from __future__ import annotations

import difflib
import inspect
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lma.errors import LmaError
from lma.run.recording import RunDir, new_run_id, yaml_problem
from lma.run.workers import InlinePool, Job, LocalPool, RayPool, check_ray_address, import_modules

DEFAULTS: dict[str, Any] = {
    "agents": None, "envs": None, "episodes": 10, "seed": 0, "model": None, "max_steps": None,
    "step_timeout": 60.0, "episode_timeout": 900.0, "record_frames": True, "prices": {}, "imports": [], "env_args": {},
    "workers": None, "backend": "local", "ray_address": None, "share_models": True, "out": "runs",
}
BACKENDS = ("local", "ray", "inline")
EXECUTION_KEYS = ("workers", "backend", "ray_address", "share_models", "out")  # a resume may change these
_TYPES: dict[str, tuple[type, ...]] = {
    "agents": (list,), "envs": (list,), "episodes": (int,), "seed": (int,), "model": (str,), "max_steps": (int,),
    "step_timeout": (int, float), "episode_timeout": (int, float), "record_frames": (bool,), "prices": (dict,),
    "imports": (list,), "env_args": (dict,), "workers": (int,), "backend": (str,), "ray_address": (str,), "share_models": (bool,),
    "out": (str,),
}
KILL_GRACE = 2.0  # seconds past the episode limit before the worker is killed (the runner stops first if it can)
SHARED_BACKENDS = ("llamacpp", "transformers")


def load_settings_file(path: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise LmaError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise LmaError(f"{path} is not valid YAML{yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise LmaError(f"{path} must hold a mapping of settings, e.g. `agents: [type1, expert]`")
    return data


def check_settings(given: dict[str, Any]) -> dict[str, Any]:
    """``given`` itself, once every key is known and every value has its type; raises LmaError."""
    for key, value in given.items():
        if key not in DEFAULTS:
            close = difflib.get_close_matches(key, list(DEFAULTS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise LmaError(f"unknown setting {key!r}{hint} (known: {', '.join(DEFAULTS)})")
        types = _TYPES[key]
        if value is not None and (not isinstance(value, types) or isinstance(value, bool) and bool not in types):
            raise LmaError(f"setting {key!r} must be {' or '.join(t.__name__ for t in _TYPES[key])}, got {value!r}")
    return given


def check_env(env_id: str, env_kwargs: dict[str, Any], *, needs_oracle: bool = False) -> None:
    """Build and close the env once, so unknown ids or options, missing data or packages fail before
    a run; ``needs_oracle``: the env must have a scripted expert (agent ``expert`` plays it)."""
    from lma.envs import make
    from lma.envs.base import ToolEnv

    env = make(env_id, **env_kwargs)
    try:
        if needs_oracle and getattr(type(env.unwrapped), "expert_action", None) in (None, ToolEnv.expert_action):
            raise LmaError(f"agent 'expert' needs an env with a scripted oracle; {env_id} has none")
    finally:
        env.close()


def _parameters(agent: str) -> Mapping[str, inspect.Parameter]:
    """The parameters of a registered agent's factory (none when it has no signature)."""
    from lma.registry import agents

    try:
        return inspect.signature(agents.spec(agent).load()).parameters
    except (TypeError, ValueError):
        return {}


def model_user(agent: str, options: dict[str, Any]) -> str | None:
    """The registered agent whose factory takes the ``model``: ``agent`` itself when it has a
    ``model`` parameter (model-driven agents do), else its ``learner`` when it wraps one that has
    (``dagger``: the option given, else the factory's default), else None."""
    parameters = _parameters(agent)
    if "model" in parameters:
        return agent
    if "learner" in parameters:
        learner = options.get("learner", parameters["learner"].default)
        if "model" in _parameters(learner):
            return learner
    return None


def trained_history(agent: str, options: dict[str, Any]) -> None:
    """Spell out in ``options`` the history its planner was trained with, when that is not the
    default: workers reach a shared model through a server, whose spec no longer names the files
    that record it (:func:`lma.planning.prompt.planner_history`; it also refuses a planner trained
    on another prompt layout, here, before any episode)."""
    from lma.planning.prompt import DEFAULT_HISTORY, planner_history

    parameters = _parameters(agent)
    takes = "history" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    history = planner_history(options["model"], options.get("history"))
    if takes and "history" not in options and history != DEFAULT_HISTORY:
        options["history"] = history


def agent_model(agent: str, given: str | None, envs: list[str]) -> str:
    """The model spec an agent will load, by the presets' own rules (:mod:`lma.agents`), spelled out
    so the config records it and workers can share it."""
    from lma.agents import default_model, finetuned_model
    from lma.models import DEFAULT_MODEL

    if agent == "type2":  # a fine-tuned model; without one the preset raises its own clear error
        return finetuned_model(given, envs)
    return given or default_model() or DEFAULT_MODEL


def resolve(settings: dict[str, Any], command: str = "eval") -> dict[str, Any]:
    """The run's config: names checked, agents' models and seeds spelled out; raises LmaError."""
    from lma.models.base import split_spec
    from lma.registry import agents, models

    s = {**DEFAULTS, **settings}
    if not s["agents"] or not s["envs"]:
        raise LmaError("name the agents and envs to evaluate: --agents type1,expert --envs babyai/GoToObj-v0")
    if s["episodes"] < 1 or (s["workers"] is not None and s["workers"] < 1):
        raise LmaError("episodes and workers must be at least 1")
    if s["max_steps"] is not None and s["max_steps"] < 1:
        raise LmaError(f"max_steps must be at least 1, got {s['max_steps']}")
    if s["backend"] not in BACKENDS:
        raise LmaError(f"backend must be one of {', '.join(BACKENDS)}, got {s['backend']!r}")
    import_modules(s["imports"])
    resolved = []
    for entry in s["agents"]:
        entry = {"name": entry} if isinstance(entry, str) else dict(entry)
        if not isinstance(entry.get("name"), str):
            raise LmaError(f"an agent entry needs a name: {entry!r}")
        name = entry.pop("name")
        label = entry.pop("label", None) or name
        agents.spec(name)  # unknown names raise with suggestions
        user = model_user(name, entry)
        if user is not None:
            entry["model"] = agent_model(user, entry.get("model") or s["model"], list(s["envs"]))
            models.spec(split_spec(entry["model"])[0])  # an unknown backend fails now, with suggestions
            trained_history(name, entry)
        if any(a["label"] == label for a in resolved):
            raise LmaError(f"agent {label!r} is listed twice; give one a different `label`")
        resolved.append({"label": label, "name": name, "options": entry})
    if not all(isinstance(v, dict) for v in s["env_args"].values()):
        raise LmaError("env_args maps env ids (or '*' for all) to options, e.g. {'*': {time_limit: 60}}")
    env_args = {}
    for env in dict.fromkeys(s["envs"]):
        env_args[env] = {**s["env_args"].get("*", {}), **s["env_args"].get(env, {})}
        check_env(env, env_args[env], needs_oracle=any(a["name"] == "expert" for a in resolved))
    return {
        "command": command,
        "settings": settings,
        "agents": resolved,
        "envs": list(dict.fromkeys(s["envs"])),
        "seeds": [s["seed"] + i for i in range(s["episodes"])],
        "env_args": env_args,
        **{k: s[k] for k in ("model", "max_steps", "step_timeout", "episode_timeout", "record_frames", "prices", "imports")},
        "execution": {"workers": s["workers"] or os.cpu_count() or 1,
                      **{k: s[k] for k in ("backend", "ray_address", "share_models")}},
    }


def identity(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a config that decides what a run runs (not how)."""
    out = {k: v for k, v in config.items() if k not in ("execution", "model", "settings")}
    out["agents"] = [{k: a.get(k) for k in ("label", "name", "options")} for a in config.get("agents", [])]
    return out


def open_for_resume(path: str | Path, given: dict[str, Any]) -> tuple[RunDir, dict[str, Any]]:
    """The run to resume and its config; raises LmaError when the given settings differ."""
    run = RunDir.open(path)
    stored = run.config()
    if not stored.get("settings"):
        raise LmaError(f"{path} was made by an older lma without its settings and cannot be resumed")
    asked = {k: v for k, v in given.items() if k not in EXECUTION_KEYS}
    if asked:
        old = identity(stored)
        new = identity(resolve({**stored.get("settings", {}), **asked}, stored.get("command", "eval")))
        differ = [k for k in new if new[k] != old.get(k)]
        if differ:
            raise LmaError(f"cannot resume {path}: its config differs in {', '.join(differ)} "
                           f"(start a new run, or resume without changing {', '.join(differ)})")
    config = {**stored, "execution": {**stored.get("execution", {}),
                                      **{k: given[k] for k in EXECUTION_KEYS if k in given and k != "out"}}}
    return run, config


def agent_models(config: dict[str, Any]) -> dict[str, str | None]:
    """Agent label -> model spec."""
    return {a["label"]: a["options"].get("model") for a in config["agents"]}


def start_model_servers(config: dict[str, Any]) -> dict[str, Any]:
    """One :class:`SharedModel` per local model spec that workers would otherwise each load."""
    from lma.run.model_server import SharedModel, can_serve

    execution = config["execution"]
    if not execution.get("share_models", True) or execution.get("ray_address") or execution.get("backend") == "inline":
        return {}
    specs = {a["options"].get("model") for a in config["agents"]} - {None}
    if not can_serve() and any(s.split(":", 1)[0] in SHARED_BACKENDS for s in specs):
        logging.getLogger(__name__).warning("every worker loads its own model: sharing one needs pip install 'lma[serve]'")
        return {}
    servers: dict[str, Any] = {}
    try:
        for spec in sorted(s for s in specs if s.split(":", 1)[0] in SHARED_BACKENDS):
            servers[spec] = SharedModel(spec)
    except BaseException:
        for server in servers.values():
            server.close()
        raise
    return servers


def make_jobs(config: dict[str, Any], servers: dict[str, Any]) -> list:
    """Every episode of the run, ordered seed by seed so a partial run is already paired."""
    jobs = []
    for seed in config["seeds"]:
        for env in config["envs"]:
            for agent in config["agents"]:
                options = dict(agent["options"])
                if options.get("model") in servers:
                    options["model"] = servers[options["model"]].model_spec
                jobs.append(Job(agent["label"], agent["name"], options, env, seed, config.get("max_steps"),
                                config.get("step_timeout"), config.get("episode_timeout"),
                                config.get("record_frames", True), config.get("env_args", {}).get(env, {})))
    return jobs


def check_agents(jobs: list) -> dict[str, dict[str, Any]]:
    """Build each agent once here, so bad options and unreachable models fail now (exit 2);
    returns their ``config()``."""
    from lma.agents import make_agent

    configs = {}
    for job in jobs:
        if job.label not in configs:
            agent = make_agent(job.agent, **job.options)
            model = getattr(agent, "model", None)
            if model is not None:
                model.check()
            configs[job.label] = agent.config()
            agent.close()
    return configs


class Progress:
    """tqdm on stderr: ETA, episodes/min and the running success of each agent."""

    def __init__(self, total: int, done: list, labels: list[str]):
        from tqdm import tqdm

        self.score = {label: [0, 0] for label in labels}
        for r in done:
            self.add(r)
        self.bar = tqdm(total=total, initial=len(done), unit="ep", desc="eval", file=sys.stderr, dynamic_ncols=True)
        self.started, self.finished = time.monotonic(), 0

    def add(self, result: Any) -> None:
        if result.agent in self.score:
            self.score[result.agent][0] += bool(result.success)
            self.score[result.agent][1] += 1

    def update(self, result: Any) -> None:
        self.add(result)
        self.finished += 1
        per_min = self.finished / max(time.monotonic() - self.started, 1e-9) * 60
        agents = " ".join(f"{label} {s}/{n}" for label, (s, n) in self.score.items())
        self.bar.set_postfix_str(f"{per_min:.1f} ep/min | {agents}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def in_order(env_id: str) -> bool:
    """Whether an env's episodes form series (``episodes_in_order``, :mod:`lma.envs.memory_tasks.series`)."""
    from lma.registry import envs

    return env_id in envs and bool(getattr(envs.spec(env_id).load(), "episodes_in_order", False))


def schedule(run: Any, jobs: list, pool: Any, progress: Progress) -> None:
    """Keep ``pool.capacity`` jobs running; kill those past their limit; append each result once.

    On an env whose episodes form series, one agent's episodes run one at a time in seed order, so
    its memory of an episode is written before the next one starts; other jobs fill the workers."""
    pending, running = deque(jobs), {}
    ordered = {env for env in {j.env for j in jobs} if in_order(env)}

    def fill() -> None:
        while len(running) < pool.capacity:
            busy = {(j.label, j.env) for j, _ in running.values() if j.env in ordered}
            job = next((j for j in pending if (j.label, j.env) not in busy), None)
            if job is None:
                return
            pending.remove(job)
            pool.submit(job)
            running[id(job)] = (job, time.monotonic())

    while pending or running:
        fill()
        deadlines = [t + j.episode_timeout + KILL_GRACE for j, t in running.values() if j.episode_timeout]
        wait = min([1.0] + [d - time.monotonic() for d in deadlines])
        finished = pool.wait(max(wait, 0.01))
        for job, _ in finished:
            running.pop(id(job))
        fill()  # freed workers start their next episode while the results are written (an fsync each)
        for _, result in finished:
            run.add_result(result)
            progress.update(result)
        now = time.monotonic()
        for key, (job, started) in list(running.items()):
            if job.episode_timeout and now - started > job.episode_timeout + KILL_GRACE:
                result = pool.kill(job, f"episode killed at the {job.episode_timeout:g}s time limit")
                running.pop(key)
                run.add_result(result)
                progress.update(result)


def seal_results(run: Any) -> None:
    """End a torn last line (a crash mid-write) so the next appended line stays whole."""
    path = run.results_path
    if path.exists() and path.stat().st_size:
        with open(path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")


def prepare(given: dict[str, Any], *, resume: str | Path | None = None,
            command: str = "eval") -> tuple[RunDir | None, dict[str, Any]]:
    """The run to resume (or None: :func:`run_jobs` creates it) and its config; raises LmaError."""
    check_settings(given)
    if resume:
        run, config = open_for_resume(resume, given)
        import_modules(config.get("imports", []))
        seal_results(run)
        return run, config
    return None, resolve(given, command)


def run_jobs(config: dict[str, Any], run: RunDir | None = None, *, name: str | None = None,
             on_start: Any = None) -> RunDir:
    """Run every job of ``config`` that has no result in ``run`` yet (a new run folder when None).

    ``on_start(run)`` is called once the run folder exists, before the first episode (the CLI uses
    it to say where an interrupted run is saved). Returns the run; its results are in
    ``run.results()``.
    """
    execution = config["execution"]
    if execution.get("backend") == "ray" and execution.get("ray_address"):
        check_ray_address(execution["ray_address"])
    servers = start_model_servers(config)
    pool = None
    try:
        jobs = make_jobs(config, servers)
        agent_configs = check_agents(jobs)
        if run is None:
            for agent in config["agents"]:
                agent["config"] = {**agent_configs[agent["label"]], "model": agent["options"].get("model")}
            name = name or "eval-" + "-".join(a["label"] for a in config["agents"])
            run = RunDir.create(config["settings"].get("out", DEFAULTS["out"]), new_run_id(name), config)
        if on_start is not None:
            on_start(run)
        done = {r.episode_id: r for r in run.results()}
        todo = [j for j in jobs if j.episode_id not in done]
        progress = Progress(len(jobs), [done[j.episode_id] for j in jobs if j.episode_id in done],
                            [a["label"] for a in config["agents"]])
        if todo:
            pool = make_pool(execution, run, config.get("imports", []), min(execution["workers"], len(todo)))
            schedule(run, todo, pool, progress)
        progress.close()
    finally:
        if pool is not None:
            pool.close()
        for server in servers.values():
            server.close()
    return run


def make_pool(execution: dict[str, Any], run: RunDir, imports: list[str], workers: int) -> Any:
    """The pool of the run's backend: this process, worker processes, or Ray tasks."""
    if execution.get("backend") == "inline":
        return InlinePool(run)
    if execution.get("backend") == "ray":
        return RayPool(workers, run, imports, execution.get("ray_address"))
    return LocalPool(workers, run, imports)
