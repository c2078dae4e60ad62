"""``contraband explain "text"``: which words pushed a listing's score.

Uses ``model.explain.explain``, the same code as the HTTP API's ``explain=true``.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="show which words pushed a listing's score",
        description="Classify one listing and list its words by contribution to a class "
                    "(the predicted one unless --class is given). Positive weights push "
                    "towards the class.",
    )
    parser.add_argument("title", help="the listing's title (or whole text)")
    parser.add_argument("--description", help="the listing's description, if any")
    parser.add_argument("--model", default="default",
                        help="bundle name, path or kind (default: the default bundle)")
    parser.add_argument("--class", dest="class_name", help="explain this class's score")
    parser.add_argument("--top-k", type=int, default=10, help="words to show (default 10)")
    parser.add_argument("--time-budget", type=float, default=10.0,
                        help="seconds to wait for the explanation (default 10)")
    parser.add_argument("--html", metavar="FILE",
                        help="also write the listing as coloured HTML to FILE")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=_explain)


def _explain(args: argparse.Namespace) -> int:
    from model import Classifier, Listing
    from model.explain import OK, explain
    from training.suite.explanations import coloured_html
    from training.suite.html_report import page

    if not args.title.strip():
        raise ValueError("the listing's title is empty")
    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    classifier = Classifier.load(args.model)
    listing = Listing(args.title, args.description)
    [prediction] = classifier.predict([listing])
    result = explain(classifier, listing, args.top_k, args.time_budget,
                     class_name=args.class_name)
    if args.json:
        print(json.dumps({"prediction": prediction.to_dict(), "explanation": result.to_dict()},
                         indent=2))
    else:
        print(f"{prediction.label} ({prediction.scores[prediction.label]:.3f}), decision "
              f"{prediction.decision}: {prediction.reason}")
        unit = f" ({result.unit}, with the word minus without it)" if result.unit else ""
        print(f"words for class {result.class_name}{unit}:")
        if result.status != OK:
            print(f"  ({result.status}: {result.detail})")
        for word, weight in result.words:
            print(f"  {weight:+8.4f}  {word}")
    if args.html:
        [text] = classifier.prepare([listing])
        body = coloured_html(text, dict(result.words)) if result.words else html.escape(text)
        Path(args.html).write_text(
            page(f"{result.class_name}: {prediction.decision}", [("Listing", body)],
                 f"model {classifier.version}; red pushes towards {result.class_name}"),
            encoding="utf-8")
        print(f"HTML written to {args.html}", file=sys.stderr)
    return 0
