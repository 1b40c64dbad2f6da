"""``lma search index | query``: build a multimodal index of documents, and search it (:mod:`lma.search`)."""

from __future__ import annotations

import argparse

from lma.errors import LmaError

HELP = "index documents (image + text) with CLIP in Chroma, and search them by picture, text, or both"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    index = sub.add_parser("index", help="embed a documents folder (data.jsonl: image, text, optional id)")
    index.add_argument("documents", help="folder with data.jsonl and the images it names")
    index.add_argument("--out", required=True, help="new folder for the index")
    index.add_argument("--clip", help="CLIP model folder (default: lma's small CLIP)")
    query = sub.add_parser("query", help="search an index; a picture and a text make a composed query")
    query.add_argument("index", help="index folder made by lma search index")
    query.add_argument("--image", help="a picture file to search by")
    query.add_argument("--text", help="words to find, or (with --image) the change, e.g. 'but green'")
    query.add_argument("--color", help="only documents of this colour")
    query.add_argument("--pattern", help="only documents of this pattern (plain, striped, dotted)")
    query.add_argument("-k", type=int, default=10, help="number of results (default 10)")


def main(args: argparse.Namespace) -> int:
    from lma.images.scenes import load_image
    from lma.search.index import SearchIndex

    if args.action == "index":
        built = SearchIndex.build(args.documents, args.out, args.clip)
        print(f"indexed {len(built)} documents in {args.out}")
        return 0
    if not args.image and not args.text:
        raise LmaError("give --image, --text, or both")
    index = SearchIndex.open(args.index)
    picture = load_image(args.image) if args.image else None
    for rank, hit in enumerate(index.search(picture, args.text, args.color, args.pattern, args.k), 1):
        print(f"{rank}\t{hit.score:.3f}\t{hit.id}\t{hit.color}\t{hit.pattern}\t{hit.text}")
    return 0
