"""Each suite section's results as HTML (tables) and figures (PNG bytes)."""

from __future__ import annotations

import html
from typing import Any

from training.suite import plots
from training.suite.html_report import image, table

# The targets the issue sets; cells that miss them are shaded in the report.
MAX_DROP_POINTS = 3.0
MAX_ECE = 0.05
MAX_FP_RATE = 0.05

Figures = dict[str, bytes]


def crossmarket(r: dict[str, Any]) -> tuple[str, Figures]:
    parts, figures = [], {}
    oot = r.get("out_of_time", {})
    if oot:
        rows = [[s, oot[s]["rows"], oot[s]["macro_f1"], oot[s]["accuracy"]]
                for s in ("test", "oot") if s in oot]
        rows += [[f"oot: {m}", v["rows"], v["macro_f1"], v["accuracy"]]
                 for m, v in oot.get("oot_per_market", {}).items()]
        parts += ["<h3>Out-of-time (2020 markets) against the in-domain test</h3>",
                  table(["split", "rows", "macro-F1", "accuracy"], rows)]
    shops = r.get("darknet_to_shop", {})
    if shops:
        parts += ["<h3>Dark web → shop: the bundle on shops it never saw (all lawful)</h3>",
                  table(["shop", "rows", "FP rate (argmax)", "FP rate (block)",
                         "FP rate (block or review)"],
                        [[s, v["rows"], v["fp_rate_argmax"], v["fp_rate_block"],
                          v["fp_rate_block_or_review"]] for s, v in shops.items()])]
    per_market = r.get("bundle_per_market", {})
    if per_market:
        parts += ["<h3>The bundle per market</h3><p>Seen = the market has rows in the "
                  "test split, so its other vendors' rows were in training (it is scored on "
                  "those vendor-disjoint test rows); unseen = a market held out whole (the "
                  "2020 markets, the held-out shops), scored on its held-out rows. Either way "
                  "at most the suite's <code>test_per_class</code> rows of each class are "
                  "scored (see the settings in suite.json).</p>",
                  table(["market", "kind", "seen", "rows", "classes", "macro-F1", "accuracy"],
                        [[m, v["kind"], v["seen_in_training"], v["rows"],
                          ", ".join(v["classes"]), v["macro_f1"], v["accuracy"]]
                         for m, v in per_market.items()])]
    lomo = r.get("leave_one_market_out")
    if lomo:
        c = lomo["config"]
        parts += [f"<h3>Leave one market out (retrained fast baseline)</h3><p>Each fold: a "
                  f"baseline on at most {c['per_class']} training rows per class, "
                  f"{c['calibration_folds']} calibration folds, 2^{c['hash_bits']} hashed "
                  "features per block, trained without the market; the reference is the "
                  "same configuration trained with every market. Markets outside the "
                  f"training split are unseen by both. {_pool_text(lomo)}"
                  f"{lomo['seconds']} s.</p>",
                  table(["market", "kind", "in training split", "rows",
                         "macro-F1 reference", "macro-F1 left out", "drop (points)"],
                        [[m, f["kind"], f["in_training_split"], f["left_out"]["rows"],
                          f["reference"]["macro_f1"], f["left_out"]["macro_f1"],
                          f["macro_f1_drop_points"]] for m, f in lomo["folds"].items()])]
        figures["lomo"] = plots.bars(
            {m: f["left_out"]["macro_f1"] for m, f in lomo["folds"].items()},
            "leave-one-market-out macro-F1", "macro-F1")
        parts.append(image(figures["lomo"], "leave-one-market-out"))
    elif "protocol" in r:
        parts.append(f"<p>{html.escape(r['protocol'])}</p>")
    tm = r.get("transfer_matrix")
    if tm and tm["train_markets"]:
        parts += [f"<h3>Transfer matrix</h3><p>{html.escape(tm['metric'])}; rows = training "
                  "market (+ a shared lawful background), columns = held-out vendors of the "
                  "test market (+ shared lawful test rows).</p>",
                  table(["train \\ test", *tm["test_markets"]],
                        [[m, *row] for m, row in zip(tm["train_markets"], tm["matrix"],
                                                     strict=True)])]
        figures["transfer_matrix"] = plots.heatmap(tm["matrix"], tm["train_markets"],
                                                   tm["test_markets"], "transfer matrix")
        parts.append(image(figures["transfer_matrix"], "transfer matrix"))
    return "\n".join(parts), figures


def ablation(r: dict[str, Any]) -> tuple[str, Figures]:
    read = input_read(r["input_read"]) if r.get("input_read") else ""
    if not r.get("rows"):
        return "<p>No rows with a description.</p>" + read, {}
    parts = [f"<p>{r['rows']} rows that have a description. Macro-F1 title only "
             f"{r['macro_f1_title']:.4f}, title + description "
             f"{r['macro_f1_title_description']:.4f}.</p>",
             table(["class", "support", "F1 title", "F1 title + description"],
                   [[n, v["support"], v["title"], v["title_description"]]
                    for n, v in r["per_class_f1"].items()]),
             table(["source", "rows", "labels", "accuracy title", "accuracy title + description"],
                   [[s, v["rows"], ", ".join(v["labels"]), v["accuracy_title"],
                     v["accuracy_title_description"]] for s, v in r["sources"].items()]),
             read]
    return "\n".join(parts), {}


def input_read(r: dict[str, Any]) -> str:
    """The share of each split's (and out-of-domain market's) rows the bundle cuts short."""
    def row(name: str, e: dict[str, Any]) -> list[Any]:
        tokens = e["tokens_cut_share"]
        return [name, e["rows"], e["description_cut_share"], "–" if tokens is None else tokens]

    rows = []
    for split, entry in r["splits"].items():
        rows.append(row(split, entry))
        rows += [row(f"{split}: {m}", e) for m, e in entry.get("per_market", {}).items()]
    limit = ("no token limit" if r["max_tokens"] is None
             else f"at most {r['max_tokens']} tokens of the prepared text")
    return (f"<p>What the bundle reads: the first {r['max_description_chars']} characters of "
            f"a description, and {limit}.</p>"
            + table(["split", "rows", "description cut", "tokens cut"], rows))


def robustness(r: dict[str, Any]) -> tuple[str, Figures]:
    classes = list(r["clean"]["per_class_f1"])
    rows = [["clean", r["clean"]["macro_f1"], 0.0, 0.0,
             *[r["clean"]["per_class_f1"][c] for c in classes]]]
    bad = [[False] * len(rows[0])]
    for name, p in r["perturbations"].items():
        rows.append([name, p["macro_f1"], p["drop_points"], p["flip_rate"],
                     *[p["per_class_f1"].get(c) for c in classes]])
        bad.append([False, False, p["drop_points"] > MAX_DROP_POINTS,
                    *[False] * (1 + len(classes))])
    demo = table(["perturbation", "perturbed demo text", "after normalisation"],
                 [[n, e["perturbed"], e["normalised"]] for n, e in r["examples"].items()])
    figures = {"robustness": plots.bars(
        {n: p["drop_points"] for n, p in r["perturbations"].items()},
        "macro-F1 drop under each perturbation", "points", line=MAX_DROP_POINTS)}
    html_out = (f"<p>{r['rows']} test rows, seed {r['seed']}; target: drop ≤ "
                f"{MAX_DROP_POINTS} points.</p>"
                + table(["variant", "macro-F1", "drop (points)", "flip rate",
                         *[f"F1 {c}" for c in classes]], rows, bad)
                + image(figures["robustness"], "robustness") + demo)
    return html_out, figures


def hard_negatives(r: dict[str, Any]) -> tuple[str, Figures]:
    groups = r["groups"]
    rows, bad = [], []
    for name, g in groups.items():
        interval = g.get("fp_rate_argmax_interval")  # absent from suites run before it existed
        served = [g.get(f"fp_rate_{p}") for p in ("served", "online")]
        rows.append([name, g["looks_like"], g["rows"], g["fp_rate_argmax"],
                     _interval_cell(interval),
                     g["fp_rate_block"], g["fp_rate_block_or_review"],
                     *["" if v is None else v for v in served],
                     ", ".join(f"{k} {v}" for k, v in g["predicted"].items())])
        bad.append([False, False, False, (g["fp_rate_argmax"] or 0) > MAX_FP_RATE, False,
                    *[(v or 0) > MAX_FP_RATE for v in (g["fp_rate_block"],
                                                       g["fp_rate_block_or_review"], *served)],
                    False])
    figures = {"hard_negatives": plots.bars(
        {n: g["fp_rate_argmax"] or 0.0 for n, g in groups.items()},
        "hard negatives: false-positive rate (argmax)", "FP rate", line=MAX_FP_RATE)}
    return (f"<p>Lawful surface rows of splits {', '.join(r['splits'])}; groups from "
            f"<code>{html.escape(r['definition'])}</code>; target FP rate ≤ {MAX_FP_RATE}.</p>"
            + "<p>The interval is the argmax rate's 95% Wilson interval: a group of a few "
            "dozen rows cannot show a rate below the target even with no false positive. "
            "Served: the argmax rate when each market is served one listing at a time at the "
            "mix estimated from its other half; online: by the server's market adaptation, "
            "each market's mix learned from its earlier listings (the label-shift section's "
            "two protocols of a server that knows the listing's marketplace).</p>"
            + table(["group", "looks like", "rows", "FP rate (argmax)", "95% interval",
                     "FP rate (block)", "FP rate (block or review)", "FP rate (argmax, served)",
                     "FP rate (argmax, online)", "predicted"], rows, bad)
            + image(figures["hard_negatives"], "hard negatives")
            + cross_fitted_hard_negatives(r.get("cross_fitted"))), figures


def _interval_cell(interval: list[float] | None) -> str:
    """A rate's interval as a table cell (empty where there is none)."""
    return f"{interval[0]:.3f} – {interval[1]:.3f}" if interval else ""


def cross_fitted_hard_negatives(r: dict[str, Any] | None) -> str:
    """The train split's look-alikes scored by refits that left them out, and the pooled
    rates (empty when the run did not cross-fit)."""
    if not r:
        return ""
    rows, bad = [], []
    for name, g in r["groups"].items():
        interval = g["pooled_interval"]
        rows.append([name, g["training_rows"], g["fp_argmax"], g["fp_rate_argmax"],
                     g["fp_rate_block_or_review"], g["pooled_rows"], g["pooled_fp_argmax"],
                     g["pooled_fp_rate_argmax"],
                     _interval_cell(interval),
                     "; ".join(g["flagged_examples"])])
        bad.append([False, False, False, (g["fp_rate_argmax"] or 0) > MAX_FP_RATE, False,
                    False, False, (g["pooled_fp_rate_argmax"] or 0) > MAX_FP_RATE, False,
                    False])
    seconds = sum(f["seconds"] for f in r["refits"])
    return (f"<h3>Cross-fitted: the training look-alikes, {r['folds']} refits</h3>"
            "<p>The bundle's recipe retrained once per fold, each time without one fold of the "
            "train split's look-alikes (whole near-duplicate groups), which it then scores; "
            "pooled = these rows and the held-out rows above together, with the pooled "
            f"rate's 95% Wilson interval. Refits took {seconds:.0f} s in all.</p>"
            + table(["group", "training rows", "FP (argmax)", "FP rate (argmax)",
                     "FP rate (block or review)", "pooled rows", "pooled FP",
                     "pooled FP rate", "95% interval", "flagged, for example"], rows, bad))


def calibration(r: dict[str, Any]) -> tuple[str, Figures]:
    variants = r["variants"]
    classes = list(r["ece"][variants[0]])
    rows = [[c, *[r["ece"][v][c] for v in variants]] for c in classes]
    bad = [[False, *[r["ece"][v][c] > MAX_ECE for v in variants]] for c in classes]
    figures = {"reliability": plots.reliability_diagrams(r["reliability"], r["ece"])}
    par = r["precision_at_recall_0.9"]
    return (f"<p>{r['rows']} test rows; temperature fitted on validation: "
            f"{r['temperature']:.3f}; target ECE ≤ {MAX_ECE}.</p>"
            + table(["class", *[f"ECE {v}" for v in variants]], rows, bad)
            + image(figures["reliability"], "reliability diagrams")
            + "<h3>Precision at recall 0.9 (shipped scores)</h3>"
            + table(["class", "support", "precision", "recall", "score cut"],
                    [[n, v["support"], v["precision"], v["recall"], v["threshold"]]
                     for n, v in par.items()])), figures


def explanations(r: dict[str, Any]) -> tuple[str, Figures]:
    units = sorted({e["unit"] for e in r["examples"] if e.get("unit")})
    weight = (f"the class's {' or '.join(units)} with the word minus without it" if units
              else "the weight")
    parts = ["<p>Red words pushed the score of the predicted class up, blue down (hover for "
             f"{html.escape(weight)}); the same code serves the API's <code>explain=true</code> "
             "and <code>contraband explain</code>. Occlusion takes one word out at a time, so "
             "where several words each suffice, each gets a small weight.</p>"]
    faithful = r.get("faithfulness", {})
    if faithful.get("k"):
        subsets = {f"all {faithful['rows']}": faithful["k"],
                   f"{faithful.get('illicit_rows', 0)} predicted illicit":
                   faithful.get("k_illicit", {})}
        rows = [[who, k, f["comprehensiveness"], f["random_comprehensiveness"],
                 f["sufficiency"], f["flips"], f["random_flips"]]
                for who, by_k in subsets.items() for k, f in by_k.items()]
        parts.append(
            f"<h3>Faithfulness ({faithful['rows']} test listings)</h3><p>The predicted "
            "class's probability on the listing minus on the listing without its top k words "
            "(comprehensiveness: higher is more faithful), without k random words it reads "
            "(the reference), and with only its top k words (sufficiency: lower is more "
            "faithful); and the share of predictions that change when the words go.</p>"
            + table(["listings", "k", "comprehensiveness", "random words", "sufficiency",
                     "flips", "random flips"], rows))
    for e in r["examples"]:
        note = "" if e["status"] == "ok" else f" — {html.escape(e['status'])}: " \
                                                f"{html.escape(e['detail'])}"
        parts.append(f"<div class='example'><div class='meta'>{e['kind']}: true "
                     f"{html.escape(e['true_label'])}, predicted {html.escape(e['predicted'])} "
                     f"({e['score']:.3f}){note}</div>{e['html']}</div>")
    return "\n".join(parts), {}


def _coverage_cell(entry: dict[str, Any], names: list[str]) -> str:
    """'k of n' true shares inside the market's interval, naming the ones outside."""
    inside = entry.get("true_in_interval")
    if inside is None:
        return ""
    outside = [n for n in names if n not in inside]
    return f"{len(inside)} of {len(names)}" + (f" (not {', '.join(outside)})" if outside else "")


def label_shift(r: dict[str, Any]) -> tuple[str, Figures]:
    names = list(r["source_prior"])
    method = r.get("method", "em")
    em_too = method != "em"
    estimate_how = ("BBSE: from the counts of predicted labels and the validation confusion "
                    "matrix; EM beside it for comparison" if em_too else "EM")
    parts = [
        "<p>Each split's rows grouped by market, as a crawl of each market would be; each "
        f"market of at least {r['min_rows']} rows has its class mix estimated from its own "
        f"scores ({estimate_how}; no labels) and its scores corrected to it (<code>contraband "
        "adapt</code>). A different protocol from the other sections: a score here depends on "
        f"the rest of its market's rows. Training mix ({html.escape(r['source_prior_origin'])}"
        "): " + ", ".join(f"{n} {p:.3f}" for n, p in r["source_prior"].items()) + ".</p>",
        table(["split", "rows", "macro-F1", f"macro-F1 adapted ({method})",
               *(["macro-F1 adapted (em)"] if em_too else []),
               "macro-F1 one at a time, at the other half's mix",
               "macro-F1 one at a time, market adaptation", "lawful FP rate",
               f"lawful FP rate adapted ({method})",
               *(["true shares inside the 95% interval"] if em_too else [])],
              [[s, r[s]["before"]["rows"], _f1_cell(r[s]["before"]),
                _f1_cell(r[s]["after"]),
                *([_f1_cell(r[s]["after_em"])] if em_too else []),
                _f1_cell(r[s].get("after_served")),
                _f1_cell(r[s].get("after_online")),
                r[s]["before"]["benign_fp_rate"], r[s]["after"]["benign_fp_rate"],
                *([r[s].get("interval_coverage", "")] if em_too else [])]
               for s in ("test", "oot", "cross_market") if s in r]),
        "<p>One at a time, at the other half's mix: each market of at least "
        f"{2 * r['min_rows']} rows split in two random halves, each half's listings scored "
        "one at a time with the target prior estimated from the other half, as a server "
        "given <code>GET /v1/mix</code>'s suggestion from earlier traffic scores them; "
        "smaller markets keep their scores. One at a time, market adaptation: every listing "
        "of the split sent once, in a random order across its markets, in requests of 32 "
        "that name each listing's market, to the server's own market adaptation: a market's "
        f"first {r['min_rows']} listings are scored at the training mix, each later one at "
        "the mix estimated from the market's earlier listings.</p>",
    ]
    if r.get("interval_covers"):
        parts.append(
            f"<p>The 95% intervals of the {method} estimate cover "
            f"{html.escape(r['interval_covers'])}: sampling noise. A market whose true shares "
            "fall outside them breaks the estimate's assumption that the model errs on its "
            "listings as on validation's (text unlike the training data's).</p>")
    rows = []
    for split in ("test", "oot", "cross_market"):
        for market, e in r.get(split, {}).get("per_market", {}).items():
            estimate = e.get("estimated_prior")
            rows.append([split, market, e["rows"], e["before"]["macro_f1"], e["after"]["macro_f1"],
                         e.get("after_served", {}).get("macro_f1", ""),
                         e.get("after_online", {}).get("macro_f1", ""),
                         e["before"]["benign_fp_rate"], e["after"]["benign_fp_rate"],
                         ", ".join(f"{n} {estimate[n]:.2f}" for n in names) if estimate
                         else "not adapted (too few rows)",
                         ", ".join(f"{n} {e['true_prior'][n]:.2f}" for n in names)
                         if estimate else "", _coverage_cell(e, names)])
    parts += ["<h3>Per market</h3>",
              table(["split", "market", "rows", "macro-F1", f"adapted ({method})",
                     "one at a time, other half's mix", "one at a time, market adaptation",
                     "lawful FP rate", "adapted",
                     "estimated mix", "true mix",
                     "true shares inside the interval"], rows)]
    return "".join(parts), {}


def _f1_cell(entry: dict[str, Any] | None) -> str:
    """Macro-F1 with its 95% interval where the entry has one (suites since the twenty-second
    session); empty where the protocol was not run."""
    if not entry:
        return ""
    interval = entry.get("macro_f1_ci95")
    return (f"{entry['macro_f1']}" if not interval
            else f"{entry['macro_f1']} [{interval[0]:.3f}–{interval[1]:.3f}]")


RENDERERS = {
    "crossmarket": ("Cross-market", crossmarket),
    "transfer": ("Leave one market out and transfer between markets", crossmarket),
    "ablation": ("Title only against title + description", ablation),
    "robustness": ("Robustness to obfuscation", robustness),
    "hard_negatives": ("Hard negatives", hard_negatives),
    "calibration": ("Calibration", calibration),
    "label_shift": ("Label shift: scores adapted to each market's class mix", label_shift),
    "explanations": ("Explanations", explanations),
}


def _pool_text(lomo: dict[str, Any]) -> str:
    """What the folds sampled from: the train split, plus the bundle's supplements if any."""
    names = lomo.get("supplements") or []
    if not names:
        return "The folds sample the train split. "
    return ("The folds sample the train split and the supplements the bundle was trained on ("
            + ", ".join(html.escape(n) for n in names) + "). ")
