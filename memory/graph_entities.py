"""Entity identification for the graph memory: the phrases, objects and pictures an item is about.

The first stage of multimodal graph learning names the nodes. lma's extractor is lexical and
deterministic, so that a store built twice from the same items is the same graph and a write
costs microseconds, not a model call:

* **phrases from text**: a sentence is cut at punctuation, possessives and function words
  (a fixed lexicon of articles, pronouns, prepositions, auxiliaries and very common verbs); each
  remaining run of content words of up to :data:`MAX_PHRASE` words is an entity ("The key of the
  red room is under the wooden box" -> ``key``, ``red room``, ``wooden box``), capitalised names
  included ("Captain Ortiz");
* **pairs inside longer runs**: a run of three words or more also gives its adjacent pairs, so
  colour + object pairs and names survive a verb the lexicon lacks ("a big red ball" -> ``big red
  ball``, ``big red``, ``red ball``; "the white kitchen key" -> ``white kitchen``);
* **objects from metadata**: ``metadata["objects"]`` / ``metadata["entities"]``, a list of
  strings or of dicts such as ``{"type": "ball", "color": "red"}`` (what a perceiver saw).

Words are lower-cased and plurals folded by rule ("boxes" -> "box", "keys" -> "key"), so that the
same entity written two ways is one node. Images become nodes in :mod:`lma.memory.graph`, not here.
spaCy's statistical models are not installed here (no noun chunks without a parser), and its
blank pipeline only tokenises, so a lexicon it is: no dependency, and identical on every machine.
"""

from __future__ import annotations

import re
from typing import Any

MAX_PHRASE = 3  # content runs longer than this give only their pairs
MAX_ENTITIES = 24  # per item: bounds the co-occurrence edges an item adds

STOPWORDS = frozenset("""
a an the this that these those there here it its i me my we our you your he him his she her they them their
who whom whose which what when where why how whatever whichever whoever wherever whenever
someone somebody anyone anybody everyone everybody nobody none one thing something anything nothing way
and or but nor so yet if then than because while although though as
of in on at to from by with without within into onto over under above below near beside behind between among
about around after before during through across along against toward towards up down out off upon via per
inside outside beneath underneath throughout next like unlike until since except
is are was were be been being am do does did done doing have has had having
can could will would shall should may might must
not no yes only also just very too more most less least much many some any all each every both either neither
other another such same own else again ever never always often still even already once
hold holds held keep keeps kept lie lies lay lying sit sits sat find finds found put puts placed store stored
leave leaves left go goes went gone get gets got make makes made take takes took say says said know knows knew
see sees saw seen look looks looked use uses used want wants need needs try tries tried ask asks asked
enter enters entered watch watches watched give gives gave come comes came
step forward backward
""".split())
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*(?:'[A-Za-z]+)?|[^\sA-Za-z0-9]")
_SENTENCE = re.compile(r"[.!?;|\n]+")


def fold(word: str) -> str:
    """A word's entity form: lower case, plural folded by rule (deterministic, no lexicon)."""
    w = word.lower()
    if len(w) <= 3 or not w.isalpha() or w.endswith(("ss", "us", "is", "ous")):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "sses", "zes")):
        return w[:-2]
    return w[:-1] if w.endswith("s") else w


def phrases(sentence: str) -> list[str]:
    """The entities of one sentence, in reading order, without repeats."""
    runs: list[list[str]] = [[]]
    for token in _TOKEN.findall(sentence):
        word, possessive = (token[:-2], True) if token.lower().endswith("'s") else (token, False)
        if not word[0].isalnum() or word.lower() in STOPWORDS or fold(word) in STOPWORDS:
            runs.append([])
            continue
        runs[-1].append(fold(word))
        if possessive:
            runs.append([])
    found: list[str] = []
    for run in runs:
        if not run or all(w.isdigit() for w in run):
            continue
        whole = [" ".join(run)] if len(run) <= MAX_PHRASE else []
        pairs = [f"{a} {b}" for a, b in zip(run, run[1:])] if len(run) > 2 else []
        found.extend(p for p in whole + pairs if p not in found)
    return found


def object_names(objects: Any) -> list[str]:
    """Entity names of metadata objects: strings, or dicts with a colour and a type/name/label."""
    names = []
    for obj in objects if isinstance(objects, (list, tuple)) else [objects] if objects else []:
        if isinstance(obj, dict):
            head = obj.get("type") or obj.get("name") or obj.get("label") or obj.get("class")
            obj = " ".join(str(p) for p in (obj.get("color") or obj.get("colour"), head) if p) if head else ""
        name = " ".join(fold(w) for w in str(obj).split())
        if name and name not in names:
            names.append(name)
    return names


def identify(text: str) -> list[list[str]]:
    """The entities of a text, grouped by where they co-occur (one group per sentence); at most
    :data:`MAX_ENTITIES` in all."""
    groups: list[list[str]] = []
    seen: set[str] = set()
    for group in (phrases(s) for s in _SENTENCE.split(text)):
        kept = []
        for entity in group:
            if entity not in seen and len(seen) < MAX_ENTITIES:
                seen.add(entity)
            if entity in seen:
                kept.append(entity)
        if kept:
            groups.append(kept)
    return groups


def objects_of(metadata: dict[str, Any]) -> list[str]:
    """The entities of an item's metadata: its ``objects`` and ``entities`` (what a perceiver saw)."""
    return list(dict.fromkeys(object_names(metadata.get("objects")) + object_names(metadata.get("entities"))))
