"""The Loopback Shop: search, categories, product pages, a cart and a checkout, on 127.0.0.1.

Each seed makes a new catalog (five categories, 25 products, names and prices drawn from the
seed) and a new task. Tasks:

* ``web/shop-buy-v0``: buy a given quantity of a named product, shipped to a given customer with
  a given shipping speed;
* ``web/shop-cheapest-v0``: buy one of the cheapest product of a category (standard shipping);
* ``web/shop-price-v0``: answer the price of a named product;
* ``web/shop-lookalike-v0``: "like this, but green": the home page shows a picture, the goal a
  colour; answer with the name of the print that looks like the picture in that colour. The
  catalogue is prints with pictures (:mod:`lma.envs.web.shop_looks`), and the task adds the
  multimodal ``search`` tool (:mod:`lma.tools.search`) over them, embedded by the shipped small
  CLIP; ``image="picture"`` names the task's picture, a product id that product's.

Judging is done on the server: an order task ends when the shop receives an order, and succeeds
if that order holds exactly the wanted items, address and shipping; the price task ends on
``answer(text)`` and compares the number in it with the catalog; the lookalike task ends on
``answer(text)`` and succeeds if the one product name in it is the wanted one. The scripted expert
reads the page (element roles, labels and field values) and acts like a careful shopper; on the
lookalike task it is an oracle that answers the wanted name.
"""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lma.core import ToolCall, ToolResult
from lma.envs.web.base import Verdict
from lma.envs.web.server import Request, Response
from lma.envs.web.site import SiteEnv, click_on, esc, fill, find, path_of, value_of
from lma.images.scenes import COLORS

CATEGORIES = {
    "kitchen": ["Mug", "Teapot", "Skillet", "Cutting Board", "Whisk", "Colander", "Ladle"],
    "garden": ["Trowel", "Watering Can", "Hose", "Planter", "Pruners", "Rake", "Bird Feeder"],
    "books": ["Cookbook", "Atlas", "Novel", "Field Guide", "Poetry Collection", "Dictionary", "Almanac"],
    "toys": ["Kite", "Puzzle", "Yo-yo", "Robot Kit", "Marble Set", "Spinning Top", "Building Blocks"],
    "sports": ["Tennis Racket", "Yoga Mat", "Water Bottle", "Jump Rope", "Football", "Cycling Gloves", "Frisbee"],
}
ADJECTIVES = ["Blue", "Red", "Green", "Compact", "Deluxe", "Classic", "Silver", "Bamboo", "Rustic", "Modern",
              "Tiny", "Giant", "Golden", "Foldable", "Vintage"]
NAMES = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth",
         "Frances Allen", "John Backus", "Radia Perlman", "Ken Thompson"]
STREETS = ["Elm Street", "Oak Avenue", "Maple Road", "Pine Lane", "Cedar Court", "Birch Way"]
CITIES = ["Springfield", "Riverton", "Lakeside", "Fairview", "Hillcrest", "Brookfield"]
SHIPPING = {"standard": ("Standard (free)", 0), "express": ("Express ($9.99)", 999)}  # option text, cents


@dataclass
class Product:
    id: int
    name: str
    category: str
    cents: int
    description: str
    picture: np.ndarray | None = field(default=None, repr=False)

    @property
    def price(self) -> str:
        return f"${self.cents / 100:.2f}"


@dataclass
class Order:
    number: int
    items: dict[int, int]
    name: str
    address: str
    city: str
    shipping: str
    cents: int


@dataclass
class Want:
    """What the task asks for: items (product id -> quantity) and where to send them."""

    items: dict[int, int] = field(default_factory=dict)
    name: str = ""
    address: str = ""
    city: str = ""
    shipping: str = "standard"


def make_catalog(rng: np.random.Generator) -> list[Product]:
    products: list[Product] = []
    for category, nouns in CATEGORIES.items():
        cents = rng.choice(np.arange(299, 9999, 7), size=5, replace=False)  # distinct: one cheapest
        for noun, price in zip(rng.choice(nouns, size=5, replace=False), cents, strict=True):
            adjective = str(rng.choice(ADJECTIVES))
            name = f"{adjective} {noun}"
            description = f"A {adjective.lower()} {noun.lower()} from our {category} range. {str(rng.choice(_BLURBS))}"
            products.append(Product(len(products) + 1, name, category, int(price), description))
    return products


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


_BLURBS = ["Customers love it.", "Built to last.", "A perfect gift.", "Limited stock.", "New this season."]


class ShopEnv(SiteEnv):
    """A task in the Loopback Shop; ``task`` is ``buy``, ``cheapest`` or ``price``."""

    site = "shop"
    TASKS = ("buy", "cheapest", "price", "lookalike")

    def __init__(self, task: str = "buy", clip: str | None = None, **kwargs: Any):
        """``clip``: the CLIP folder the lookalike task's search embeds with (default: lma's small CLIP)."""
        if task not in self.TASKS:
            raise ValueError(f"task must be one of {self.TASKS}")
        self.task = task
        self.catalog: list[Product] = []
        self.cart: dict[int, int] = {}
        self.orders: list[Order] = []
        self.want = Want()
        self.picture: np.ndarray | None = None  # the lookalike task's picture
        self._index_dir: Path | None = None
        self._clip_folder, self._clip = clip, None
        super().__init__(**kwargs)
        self._browser_tools = list(self.tools)

    # -- the world and the task ----------------------------------------------------------------
    def _build(self, rng: np.random.Generator) -> str:
        if self.task == "lookalike":
            return self._build_lookalike(rng)
        self.catalog, self.cart, self.orders = make_catalog(rng), {}, []
        target = self.catalog[int(rng.integers(len(self.catalog)))]
        customer = dict(name=str(rng.choice(NAMES)), city=str(rng.choice(CITIES)),
                        address=f"{int(rng.integers(1, 200))} {rng.choice(STREETS)}")
        if self.task == "price":
            self.want = Want({target.id: 1})
            return f'What is the price of "{target.name}" in the Loopback Shop? Answer with the number.'
        if self.task == "cheapest":
            category = str(rng.choice(list(CATEGORIES)))
            cheapest = min((p for p in self.catalog if p.category == category), key=lambda p: p.cents)
            self.want = Want({cheapest.id: 1}, shipping="standard", **customer)
            return (f"Buy one of the cheapest product in the {category} category and ship it to "
                    f"{customer['name']}, {customer['address']}, {customer['city']}, with standard shipping.")
        qty, shipping = int(rng.integers(1, 4)), str(rng.choice(list(SHIPPING)))
        self.want = Want({target.id: qty}, shipping=shipping, **customer)
        return (f'Buy {qty} of "{target.name}" and ship to {customer["name"]}, {customer["address"]}, '
                f"{customer['city']}, with {shipping} shipping.")

    def _build_lookalike(self, rng: np.random.Generator) -> str:
        from lma.envs.web.shop_looks import build_index, make_looks
        from lma.images.backends import load_clip
        from lma.tools.search import SearchTool

        looks = make_looks(rng)
        cents = rng.choice(np.arange(499, 2999, 10), size=len(looks), replace=False)
        self.catalog = [Product(i + 1, look.name, "prints", int(price), f"A print of {look.caption}.",
                                look.picture(rng)) for i, (look, price) in enumerate(zip(looks, cents))]
        self.cart, self.orders = {}, []
        target = int(rng.integers(len(looks)))
        look = looks[target]
        source = str(rng.choice([c for c in COLORS if c != look.color]))
        self.picture = dataclasses.replace(look, color=source).picture(rng)
        self.want = Want({target + 1: 1})
        self._clip = self._clip or load_clip(self._clip_folder)
        self._drop_index()
        self._index_dir = Path(tempfile.mkdtemp(prefix="lma-shop-index-"))
        index = build_index([(p.id, f"{p.name}: {p.description}", p.picture) for p in self.catalog],
                            self._index_dir / "index", self._clip)
        self.tools = [*self._browser_tools, SearchTool(index, pictures=self._picture_named)]
        return (f"Find the print that looks like the picture on the home page, but {look.color}, and answer "
                f"with its name.")

    def _picture_named(self, ref: str) -> np.ndarray | None:
        """The pictures the search tool may name: the task's, and each product's by id."""
        if ref == "picture":
            return self.picture
        return next((p.picture for p in self.catalog if str(p.id) == ref.strip()), None)

    def _drop_index(self) -> None:
        if self._index_dir is not None:
            shutil.rmtree(self._index_dir, ignore_errors=True)
            self._index_dir = None

    # -- the site ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response | None:
        path, products = request.path, {p.id: p for p in self.catalog}
        if path == "/":
            wanted = self.format("picture.html") if self.picture is not None else ""
            return Response(self._page("Home", self.format("home.html", featured=self._list(self.catalog[::6]),
                                                            picture=wanted)))
        if path == "/picture.png" and self.picture is not None:
            return Response(png(self.picture), content_type="image/png")
        if re.fullmatch(r"/image/\d+\.png", path) and int(path[7:-4]) in products:
            picture = products[int(path[7:-4])].picture
            return Response(png(picture), content_type="image/png") if picture is not None else None
        if path == "/search":
            query = request.query.get("q", "").strip()
            words = query.casefold().split()
            found = [p for p in self.catalog if words and all(w in f"{p.name} {p.category}".casefold() for w in words)]
            body = self.format("list.html", heading=f"Results for &quot;{esc(query)}&quot;",
                               products=self._list(sorted(found, key=lambda p: p.name)))
            return Response(self._page("Search", body, query=esc(query)))
        if path.startswith("/category/") and path.split("/")[2] in self._categories():
            category, by_price = path.split("/")[2], request.query.get("sort") == "price"
            shown = sorted((p for p in self.catalog if p.category == category),
                           key=lambda p: p.cents if by_price else p.name)
            sorting = "Sorted by price" if by_price else f'<a href="/category/{category}?sort=price">Sort by price</a>'
            body = self.format("list.html", heading=category.title(), sorting=sorting, products=self._list(shown))
            return Response(self._page(category.title(), body))
        if path.startswith("/product/") and path.split("/")[2].isdigit() and int(path.split("/")[2]) in products:
            p = products[int(path.split("/")[2])]
            image = f'<img src="/image/{p.id}.png" alt="{esc(p.description)}">' if p.picture is not None else ""
            body = self.format("product.html", id=p.id, name=esc(p.name), price=p.price, category=p.category,
                               description=esc(p.description), image=image)
            return Response(self._page(p.name, body))
        if path == "/cart/add" and request.method == "POST":
            pid, qty = request.form.get("product", ""), request.form.get("qty", "1")
            if pid.isdigit() and int(pid) in products and qty.isdigit() and 1 <= int(qty) <= 9:
                self.cart[int(pid)] = self.cart.get(int(pid), 0) + int(qty)
            return Response(location="/cart")
        if path == "/cart/remove" and request.method == "POST":
            self.cart.pop(int(request.form.get("product", "0") or 0), None)
            return Response(location="/cart")
        if path == "/cart":
            return Response(self._page("Cart", self._cart_body()))
        if path == "/checkout":
            return self._checkout(request)
        if path.startswith("/order/") and path.split("/")[2].isdigit():
            number = int(path.split("/")[2])
            for order in self.orders:
                if order.number == number:
                    body = self.format("order.html", number=number, name=esc(order.name), address=esc(order.address),
                                       city=esc(order.city), items=self._items(order.items, False),
                                       total=f"${order.cents / 100:.2f}")
                    return Response(self._page("Order placed", body))
        return None

    def _page(self, title: str, body: str, query: str = "") -> str:
        links = " ".join(f'<a href="/category/{c}">{c.title()}</a>' for c in self._categories())
        return self.page(title, body, query=query, categories=links, cart_count=sum(self.cart.values()))

    def _categories(self) -> list[str]:
        return list(dict.fromkeys(p.category for p in self.catalog))

    def _list(self, products: list[Product]) -> str:
        if not products:
            return "<p>No products found.</p>"
        rows = "".join(f'<li><a href="/product/{p.id}">{esc(p.name)}</a> <span class="price">{p.price}</span></li>'
                       for p in products)
        return f'<ul class="products">{rows}</ul>'

    def _cents(self, items: dict[int, int]) -> int:
        products = {p.id: p for p in self.catalog}
        return sum(products[pid].cents * qty for pid, qty in items.items())

    def _items(self, items: dict[int, int], removable: bool) -> str:
        products = {p.id: p for p in self.catalog}
        rows = []
        for pid, qty in items.items():
            p = products[pid]
            remove = (f'<td><form action="/cart/remove" method="post"><input type="hidden" name="product" '
                      f'value="{pid}"><button aria-label="Remove {esc(p.name)}">Remove</button></form></td>')
            rows.append(f"<tr><td>{esc(p.name)}</td><td>{qty}</td><td>{p.price}</td>{remove if removable else ''}</tr>")
        head = "<tr><th>Product</th><th>Quantity</th><th>Price</th></tr>"
        return f'<table class="cart">{head}{"".join(rows)}</table>'

    def _cart_body(self) -> str:
        if not self.cart:
            return self.format("cart.html", items="<p>Your cart is empty.</p>", total="$0.00")
        total = f"${self._cents(self.cart) / 100:.2f}"
        return self.format("cart.html", items=self._items(self.cart, True), total=total,
                           checkout='<p><a href="/checkout" class="button">Checkout</a></p>')

    def _checkout(self, request: Request) -> Response:
        form = {k: request.form.get(k, "").strip() for k in ("name", "address", "city", "shipping")}
        problem = ""
        if not self.cart:
            return Response(self._page("Checkout", "<h1>Checkout</h1><p>Your cart is empty.</p>"))
        if request.method == "POST":
            missing = [k for k in ("name", "address", "city") if not form[k]]
            if not missing and form["shipping"] in SHIPPING:
                cents = self._cents(self.cart) + SHIPPING[form["shipping"]][1]
                order = Order(len(self.orders) + 1001, dict(self.cart), form["name"], form["address"], form["city"],
                              form["shipping"], cents)
                self.orders.append(order)
                self.cart = {}
                return Response(location=f"/order/{order.number}")
            problem = f'<p class="problem">Please fill in: {", ".join(missing) or "shipping"}.</p>'
        body = self.format("checkout.html", problem=problem, total_cents=self._cents(self.cart),
                           total=f"${self._cents(self.cart) / 100:.2f}",
                           **{k: esc(form[k]) for k in ("name", "address", "city")})
        return Response(self._page("Checkout", body))

    # -- judging -------------------------------------------------------------------------------
    def _judge_state(self, call: ToolCall, result: ToolResult) -> Verdict:
        if self.task == "lookalike":
            if call.name != "answer":
                return Verdict()
            (pid,) = self.want.items
            said = " ".join(call.args["text"].casefold().split())
            named = [p.id for p in self.catalog if p.name.casefold() in said]
            ok = named == [pid]
            return Verdict(float(ok), True, ok, {"answer": call.args["text"], "truth": self.catalog[pid - 1].name})
        if self.task == "price":
            if call.name != "answer":
                return Verdict()
            (pid,) = self.want.items
            price = {p.id: p for p in self.catalog}[pid].cents / 100
            number = re.search(r"\d+(?:\.\d+)?", call.args["text"].replace(",", ""))
            ok = number is not None and abs(float(number.group()) - price) < 0.005
            return Verdict(float(ok), True, ok, {"answer": call.args["text"], "truth": f"{price:.2f}"})
        if not self.orders:
            if call.name == "answer":  # giving up (or claiming success) is not an order
                return Verdict(0.0, True, False, {"orders": 0})
            return Verdict()
        order, want = self.orders[0], self.want
        same = lambda a, b: " ".join(a.casefold().split()) == " ".join(b.casefold().split())  # noqa: E731
        ok = (order.items == want.items and order.shipping == want.shipping and same(order.name, want.name)
              and same(order.address, want.address) and same(order.city, want.city))
        return Verdict(float(ok), True, ok, {"orders": len(self.orders), "order_ok": ok})

    # -- the scripted expert ---------------------------------------------------------------
    def expert_action(self) -> ToolCall:
        """A scripted shopper: search, open the product, add to cart, check out (or read the price);
        on the lookalike task an oracle: it answers the wanted name."""
        elements, path = self.session.elements, path_of(self._last_obs["data"]["url"])
        products = {p.id: p for p in self.catalog}
        pid, qty = next(iter(self.want.items.items()))
        target = products[pid]
        if self.task == "lookalike":
            return ToolCall("answer", {"text": target.name})
        if path == f"/product/{pid}":
            if self.task == "price":
                shown = [e["label"] for e in elements if re.fullmatch(r"\$\d+\.\d\d", e["label"])]
                return ToolCall("answer", {"text": shown[0] if shown else "I could not find the price"})
            if pid not in self.cart:
                return fill(elements, [("spinbutton", "Quantity", str(qty))]) or click_on(elements, "button",
                                                                                           "Add to cart")
            return ToolCall("goto", {"url": "/cart"})
        if path == "/cart":
            for other in (p for p in self.cart if p != pid or self.cart[p] != qty):
                return click_on(elements, "button", f"Remove {products[other].name}")
            if self.cart:
                return click_on(elements, "link", "Checkout")
        if path == "/checkout" and self.cart:
            want = self.want
            fields = [("textbox", "Full name", want.name), ("textbox", "Street address", want.address),
                      ("textbox", "City", want.city), ("combobox", "Shipping", SHIPPING[want.shipping][0])]
            return fill(elements, fields) or click_on(elements, "button", "Place order")
        link = find(elements, "link", target.name)
        if link is not None:
            return ToolCall("click", {"element": link})
        search = find(elements, "textbox", "Search products")
        if value_of(elements, search) != target.name:
            return ToolCall("type", {"element": search, "text": target.name})
        return ToolCall("press", {"key": "Enter"})

    def close(self) -> None:
        self._drop_index()
        super().close()
