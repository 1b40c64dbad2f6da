"""Loopwiki: an encyclopedia of a made-up world (cities, people, companies), on 127.0.0.1.

Each seed makes a new world of linked articles (an infobox, prose with distractor facts, a
collapsed notes section) and a new task. Tasks:

* ``web/wiki-qa-v0``: a one-hop question answered by one article's infobox;
* ``web/wiki-multihop-v0``: a two-hop question: follow a link in one article to the next;
* ``web/wiki-edit-v0``: add a given sentence, with a given edit summary, to a given article.

The world is made up so that no model can answer from memory. QA tasks end on
``answer(text)``, judged by exact match after normalisation (case, punctuation, articles,
thousands separators) against the world's ground truth; the edit task ends when the wiki
receives an edit and is judged on the revision the server stored. The scripted expert searches,
follows infobox links, reads the answer off the page, or edits through the form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lma.core import ToolCall, ToolResult
from lma.envs.web.base import Verdict
from lma.envs.web.server import Request, Response
from lma.envs.web.site import SiteEnv, click_on, esc, fill, find, normalize, path_of, value_of

COUNTRIES = ["Veloria", "Karthan", "Ostmark", "Quendia", "Lurassia", "Tessaly", "Marovia"]
CITY_START = ["Bel", "Cor", "Dun", "El", "Fen", "Gar", "Hal", "Ist", "Jor", "Kel", "Lin", "Mor", "Nor", "Pra",
              "Quel", "Ros", "Sar", "Tal", "Vel", "Wyn"]
CITY_END = ["haven", "mouth", "ford", "holm", "gard", "bury", "stead", "wick", "mere", "vale", "port", "crest"]
FIRST = ["Ilse", "Tomas", "Maren", "Oskar", "Livia", "Bram", "Sunniva", "Cyril", "Odile", "Jasper", "Petra",
         "Anselm", "Greta", "Milo", "Runa", "Felix"]
LAST = ["Varga", "Holloway", "Kestrel", "Ambrose", "Lindqvist", "Okafor", "Marchetti", "Stroud", "Navarro",
        "Oyelaran", "Fairbanks", "Quist"]
ORG_START = ["Northwind", "Bluefield", "Ironbark", "Silverline", "Redstone", "Clearwater", "Highgate", "Sunmere"]
ORG_END = ["Instruments", "Shipping", "Foods", "Textiles", "Robotics", "Publishing", "Energy", "Optics"]
JOBS = ["engineer", "painter", "architect", "botanist", "composer", "chemist", "sailor", "novelist"]
AWARDS = ["Golden Quill", "Harbor Medal", "Lantern Prize", "Meridian Award"]

# (question, path of infobox fields); every field but the last is a link to the next article.
ONE_HOP = {
    "city": [("What is the population of {}?", ["Population"]), ("In what year was {} founded?", ["Founded"]),
             ("In which country is {}?", ["Country"])],
    "person": [("In what year was {} born?", ["Born"]), ("In which city was {} born?", ["Birthplace"])],
    "org": [("In what year was {} founded?", ["Founded"]), ("Who founded {}?", ["Founder"])],
}
TWO_HOP = {
    "person": [("In which country was {} born?", ["Birthplace", "Country"]),
               ("Who is the mayor of the city where {} was born?", ["Birthplace", "Mayor"])],
    "org": [("What is the population of the city where {} has its headquarters?", ["Headquarters", "Population"]),
            ("In what year was the founder of {} born?", ["Founder", "Born"])],
}


@dataclass
class Article:
    title: str
    kind: str
    facts: dict[str, str] = field(default_factory=dict)  # infobox field -> value (a title when linked)
    links: set[str] = field(default_factory=set)  # the fields whose value is an article
    prose: list[str] = field(default_factory=list)
    additions: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.title.replace(" ", "_")


@dataclass
class Edit:
    slug: str
    text: str
    summary: str


def _names(rng: np.random.Generator, make: Any, n: int) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        name = make()
        if name not in names:
            names.append(name)
    return names


def make_world(rng: np.random.Generator) -> dict[str, Article]:
    """Ten cities, ten people and six companies, linked to each other, with facts drawn from ``rng``."""
    pick = lambda items: str(rng.choice(items))  # noqa: E731
    countries = list(rng.choice(COUNTRIES, size=4, replace=False))
    cities = _names(rng, lambda: pick(CITY_START) + pick(CITY_END), 10)
    people = _names(rng, lambda: f"{pick(FIRST)} {pick(LAST)}", 10)
    orgs = _names(rng, lambda: f"{pick(ORG_START)} {pick(ORG_END)}", 6)
    world: dict[str, Article] = {}
    for city in cities:
        facts = {"Country": pick(countries), "Population": f"{int(rng.integers(5_000, 2_000_000)):,}",
                 "Founded": str(int(rng.integers(1100, 1950))), "Mayor": pick(people)}
        prose = [f"{city} is a city in {facts['Country']}, founded in {facts['Founded']}.",
                 f"It has a population of {facts['Population']}. Its mayor is {facts['Mayor']}.",
                 f"The {city} football club was founded in {int(rng.integers(1850, 2000))} and plays in the "
                 f"{pick(['first', 'second', 'third'])} division."]
        world[city] = Article(city, "city", facts, {"Mayor"}, prose)
    for person in people:
        facts = {"Born": str(int(rng.integers(1900, 2001))), "Birthplace": pick(cities), "Occupation": pick(JOBS),
                 "Employer": pick(orgs)}
        prose = [f"{person} (born {facts['Born']} in {facts['Birthplace']}) is a {facts['Occupation']}.",
                 f"{person.split()[0]} works for {facts['Employer']} and moved house in "
                 f"{int(rng.integers(1950, 2020))}."]
        world[person] = Article(person, "person", facts, {"Birthplace", "Employer"}, prose)
    for org in orgs:
        facts = {"Founded": str(int(rng.integers(1850, 2016))), "Headquarters": pick(cities), "Founder": pick(people),
                 "Industry": org.split()[1].lower()}
        prose = [f"{org} is a {facts['Industry']} company founded in {facts['Founded']} by {facts['Founder']}.",
                 f"It is based in {facts['Headquarters']} and employs {int(rng.integers(20, 90_000)):,} people."]
        world[org] = Article(org, "org", facts, {"Headquarters", "Founder"}, prose)
    return world


class WikiEnv(SiteEnv):
    """A Loopwiki task; ``task`` is ``qa``, ``multihop`` or ``edit``."""

    site = "wiki"
    TASKS = ("qa", "multihop", "edit")

    def __init__(self, task: str = "qa", **kwargs: Any):
        if task not in self.TASKS:
            raise ValueError(f"task must be one of {self.TASKS}")
        self.task = task
        self.world: dict[str, Article] = {}
        self.edits: list[Edit] = []
        self.chain: list[str] = []  # the articles to visit, in order
        self.fields: list[str] = []  # the infobox field read on each
        self.truth = ""
        self.wanted_edit = Edit("", "", "")
        super().__init__(**kwargs)

    def _build(self, rng: np.random.Generator) -> str:
        self.world, self.edits = make_world(rng), []
        if self.task == "edit":
            person = str(rng.choice([a.title for a in self.world.values() if a.kind == "person"]))
            sentence = f"{person} received the {rng.choice(AWARDS)} in {int(rng.integers(1990, 2024))}."
            self.chain, self.fields = [person], []
            self.wanted_edit = Edit(self.world[person].slug, sentence, "add award")
            return (f'Add the sentence "{sentence}" to the end of the Loopwiki article about {person}, '
                    f'with the edit summary "add award".')
        table = ONE_HOP if self.task == "qa" else TWO_HOP
        kind = str(rng.choice(list(table)))
        question, self.fields = table[kind][int(rng.integers(len(table[kind])))]
        start = str(rng.choice([a.title for a in self.world.values() if a.kind == kind]))
        self.chain = [start]
        for hop in self.fields[:-1]:
            self.chain.append(self.world[self.chain[-1]].facts[hop])
        self.truth = self.world[self.chain[-1]].facts[self.fields[-1]]
        return f"Answer from Loopwiki: {question.format(start)}"

    # -- the site ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response | None:
        path, by_slug = request.path, {a.slug: a for a in self.world.values()}
        if path == "/":
            return Response(self.page("Main page", self.format("home.html", count=len(self.world))))
        if path == "/all":
            items = "".join(f'<li><a href="/wiki/{a.slug}">{esc(a.title)}</a></li>' for a in sorted(
                self.world.values(), key=lambda a: a.title))
            return Response(self.page("All articles", f"<h1>All articles</h1><ul>{items}</ul>"))
        if path == "/search":
            query = request.query.get("q", "").strip()
            exact = [a for a in self.world.values() if a.title.casefold() == query.casefold()]
            if exact:
                return Response(location=f"/wiki/{exact[0].slug}")
            words = query.casefold().split()
            hits = [a for a in self.world.values() if words and all(w in a.title.casefold() for w in words)]
            results = "".join(f'<li><a href="/wiki/{a.slug}">{esc(a.title)}</a></li>' for a in hits)
            body = self.format("results.html", summary=f"{len(hits)} articles match &quot;{esc(query)}&quot;.",
                               results=f"<ul>{results}</ul>")
            return Response(self.page("Search", body, query=esc(query)))
        kind, _, slug = path.strip("/").partition("/")
        article = by_slug.get(slug)
        if article is None:
            return None
        if kind == "wiki":
            return Response(self.page(article.title, self._article(article)))
        if kind == "edit" and request.method == "POST":
            text, summary = request.form.get("text", "").strip(), request.form.get("summary", "").strip()
            if text:
                self.edits.append(Edit(slug, text, summary))
                article.additions.append(text)
            return Response(location=f"/wiki/{slug}")
        if kind == "edit":
            return Response(self.page(f"Editing {article.title}", self.format(
                "edit.html", title=esc(article.title), slug=slug)))
        return None

    def _article(self, article: Article) -> str:
        rows = []
        for name, value in article.facts.items():
            linked = name in article.links
            shown = f'<a href="/wiki/{self.world[value].slug}">{esc(value)}</a>' if linked else esc(value)
            rows.append(f"<tr><th>{name}</th><td>{shown}</td></tr>")
        paragraphs = "".join(f"<p>{esc(p)}</p>" for p in article.prose)
        additions = "".join(f'<p class="addition">{esc(p)}</p>' for p in article.additions)
        note = f"This article was last reviewed in {1990 + len(article.title) % 30}."
        return self.format("article.html", title=esc(article.title), slug=article.slug, rows="".join(rows),
                           paragraphs=paragraphs, additions=additions, note=note)

    # -- judging -------------------------------------------------------------------------------
    def _judge_state(self, call: ToolCall, result: ToolResult) -> Verdict:
        if self.task == "edit":
            if not self.edits and call.name != "answer":
                return Verdict()
            edit, want = (self.edits or [Edit("", "", "")])[0], self.wanted_edit
            ok = (edit.slug == want.slug and normalize(edit.text) == normalize(want.text)
                  and normalize(edit.summary) == normalize(want.summary))
            return Verdict(float(ok), True, ok, {"edits": len(self.edits), "edit_ok": ok})
        if call.name != "answer":
            return Verdict()
        ok = _bare(call.args["text"]) == _bare(self.truth)
        return Verdict(float(ok), True, ok, {"answer": call.args["text"], "truth": self.truth, "hops": len(self.chain)})

    # -- the scripted expert ---------------------------------------------------------------
    def expert_action(self) -> ToolCall:
        """A scripted reader: search the first article, follow infobox links, read the answer (or edit)."""
        elements, path = self.session.elements, path_of(self._last_obs["data"]["url"])
        here = next((a.title for a in self.world.values() if path == f"/wiki/{a.slug}"), None)
        if self.task == "edit":
            want = self.wanted_edit
            if path == f"/edit/{want.slug}":
                fields = [("textbox", "Text to add at the end of the article", want.text),
                          ("textbox", "Edit summary", want.summary)]
                return fill(elements, fields) or click_on(elements, "button", "Publish changes")
            if here == self.chain[0]:
                return click_on(elements, "link", "Edit this article")
        elif here in self.chain:
            hop = self.chain.index(here)
            if hop + 1 < len(self.chain):
                return click_on(elements, "link", self.chain[hop + 1])
            return ToolCall("answer", {"text": _infobox_value(elements, self.fields[-1])})
        search = find(elements, "textbox", "Search Loopwiki")
        if value_of(elements, search) != self.chain[0]:
            return ToolCall("type", {"element": search, "text": self.chain[0]})
        return ToolCall("press", {"key": "Enter"})


def _bare(text: str) -> str:
    return re.sub(r"^(the|a|an) ", "", normalize(text))


def _infobox_value(elements: list[dict[str, Any]], name: str) -> str:
    """The label of the element right after the infobox header ``name`` (DOM order)."""
    for before, after in zip(elements, elements[1:], strict=False):
        if before["role"] == "text" and before["label"] == name:
            return after["label"]
    return "unknown"
