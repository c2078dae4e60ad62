"""The transformer kind end to end on a tiny randomly initialised BERT (no 90 MB download).

A 2-layer, hidden-32 BERT with a WordPiece vocabulary written here trains for a few dozen
steps on the fixture listings, is exported to int8 ONNX, saved, reloaded through
``Classifier.load`` and used for prediction, alone and inside a cascade.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model import BundleError, Classifier
from model.text import DEFAULT_MAX_DESCRIPTION_CHARS, listing_text
from model.transformer import OnnxTransformerModel
from tests.fixtures import rows

LABELS = ["benign", "drugs", "weapons", "counterfeit", "stolen_data"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ROOT = Path(__file__).resolve().parents[1]


def write_tiny_base(folder: Path, half: bool = False) -> Path:
    """A random tiny BERT encoder and its WordPiece tokenizer, saved like a HF model folder.

    ``half`` stores the weights in fp16, as a base copied in half precision would be.
    """
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True)
    words = sorted({w for t, _ in rows() for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL + words) + "\n", encoding="utf-8")
    BertTokenizer(vocab=str(vocab)).save_pretrained(folder)
    config = BertConfig(vocab_size=len(SPECIAL) + len(words), hidden_size=32,
                        num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    import torch

    torch.manual_seed(0)
    encoder = BertModel(config)
    (encoder.half() if half else encoder).save_pretrained(folder)
    return folder


def write_tiny_dataset(folder: Path) -> Path:
    """The fixture listings as a built dataset: every split Parquet file plus its info."""
    folder.mkdir(parents=True)
    records = []
    for i, (title, label) in enumerate(rows()):
        description = "ships worldwide in stealth" if i % 3 == 0 else None
        records.append({
            "uid": f"u{i}", "text": listing_text(title, description), "title": title,
            "description": description, "label": label, "source": f"src{i % 3}",
            "market": f"market{i % 2}", "kind": "darkweb" if label != "benign" else "surface",
            "vendor": f"v{i % 5}", "group": f"g{i}", "category": None, "date": None,
        })
    frame = pd.DataFrame(records)
    splits = {"train": frame, "validation": frame, "test": frame, "oot": frame[frame.label !=
              "benign"], "cross_market": frame}
    for name, part in splits.items():
        part.to_parquet(folder / f"{name}.parquet", index=False)
    info = {"name": "tiny", "labels": LABELS, "negative_label": "benign",
            "splits": {k: len(v) for k, v in splits.items()}, "fingerprint": "tiny-fixture",
            "policy": {"name": "test"}}
    (folder / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
    return folder


def tiny_options(base: Path, work_dir: Path, **overrides):
    from training.transformer import TransformerOptions

    settings = dict(base=str(base), work_dir=str(work_dir), max_length=32, batch_size=8,
                    epochs=20, learning_rate=2e-3, warmup_ratio=0.0, eval_steps=60,
                    checkpoint_steps=10, patience=50, progress=False, threads=1,
                    agreement_max_rows=200, min_agreement=0.95, register=0.0)
    # Register copies (tested in test_perturb) are noise a random hidden-32 model cannot
    # learn through in seconds, so the machinery is tested without them.
    # A hidden-32 model trained for seconds has near-tied logits, so int8 flips one label in
    # 70 now and then; the real default stays 0.99 and the gate has its own test below.
    settings.update(overrides)
    return TransformerOptions(**settings)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(base folder, dataset folder, models folder, saved transformer bundle)."""
    from training.transformer import train_transformer

    root = tmp_path_factory.mktemp("transformer")
    base = write_tiny_base(root / "base")
    dataset = write_tiny_dataset(root / "dataset")
    models = root / "models"
    bundle = train_transformer(dataset, models, tiny_options(base, root / "work"))
    return base, dataset, models, bundle


def test_bundle_holds_onnx_tokenizer_and_checked_figures(tiny):
    _, _, _, bundle = tiny
    config = json.loads((bundle / "config.json").read_text())
    assert config["kind"] == "transformer"
    assert config["runtime_packages"] == ["onnxruntime", "tokenizers"]
    assert "onnxruntime" in config["packages"]
    for name in ("hf/model.int8.onnx", "hf/tokenizer.json", "hf/config.json", "hf/runtime.json"):
        assert name in config["files"]
    assert not list(bundle.rglob("*.safetensors"))
    hf = json.loads((bundle / "hf" / "config.json").read_text())
    assert {int(k): v for k, v in hf["id2label"].items()} == dict(enumerate(LABELS))
    assert config["agreement"]["label_agreement"] >= 0.95
    assert config["agreement"]["rows"] == 70
    assert set(config["metrics"]) == {"validation", "test", "oot", "cross_market"}
    assert "per_market" in config["metrics"]["test"]
    assert set(config["thresholds"]) == set(LABELS) - {"benign"}
    card = (bundle / "README.md").read_text()
    assert "## Limitations" in card and "## Metrics per market" in card
    assert "calibrated to this class mix" in card  # and the bundle can adapt scans with it
    assert set(config["source_prior"]) == set(LABELS)
    assert set(config["validation_confusion"]) == set(LABELS)  # for BBSE
    # the prior correction is fitted, recorded and shipped in the runtime settings
    runtime = json.loads((bundle / "hf" / "runtime.json").read_text())
    assert len(runtime["class_bias"]) == len(LABELS) and runtime["class_bias"][0] == 0.0
    assert set(config["training"]["class_bias"]) == set(LABELS)


def test_class_bias_is_added_to_the_logits(tiny):
    _, _, _, bundle = tiny
    clf = Classifier.load(bundle)
    texts = [t for t, _ in rows()][:10]
    logits = clf.model.logits(texts) + clf.model.class_bias
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(clf.model.predict_proba(texts),
                               expected / expected.sum(axis=1, keepdims=True), rtol=1e-6)


def test_load_and_predict_learns_the_fixture(tiny):
    _, _, _, bundle = tiny
    clf = Classifier.load(bundle)
    data = rows()
    predictions = clf.predict([t for t, _ in data])
    accuracy = np.mean([p.label == label for p, (_, label) in zip(predictions, data,
                                                                  strict=True)])
    assert accuracy >= 0.8
    assert predictions[0].decision in {"allow", "review", "block"}
    assert abs(sum(predictions[0].scores.values()) - 1) < 1e-6
    assert clf.predict_proba([]).shape == (0, len(LABELS))


def test_a_listings_scores_do_not_depend_on_what_it_is_sent_with(tiny):
    """Dynamic int8 scales activations by a whole graph run's range, so the runtime scores
    every listing in a run of its own: alone, in a request, in any order, the same scores."""
    _, _, _, bundle = tiny
    clf = Classifier.load(bundle)
    texts = [t for t, _ in rows()] + ["x " * 200]  # one listing longer than max_length
    together = clf.predict_proba(texts)
    alone = np.vstack([clf.predict_proba([t]) for t in texts[:10]])
    reversed_ = clf.predict_proba(texts[::-1])[::-1]
    assert np.array_equal(together[:10], alone)
    assert np.array_equal(together, reversed_)
    one_thread = OnnxTransformerModel(clf.model.folder, threads=1)
    assert np.array_equal(one_thread.logits(texts), clf.model.logits(texts))


def test_serving_does_not_import_torch(tiny):
    _, _, _, bundle = tiny
    code = textwrap.dedent(f"""
        import sys
        from model import Classifier
        clf = Classifier.load({str(bundle)!r})
        clf.predict(["Glock 19 with 2 mags", "garden hose 50ft"])
        heavy = [m for m in ("torch", "transformers") if m in sys.modules]
        assert not heavy, heavy
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_load_refuses_other_onnxruntime_version(tiny, tmp_path):
    import shutil

    _, _, _, bundle = tiny
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    config = json.loads((copy / "config.json").read_text())
    config["packages"]["onnxruntime"] = "0.1.0"
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match="onnxruntime"):
        Classifier.load(copy)


def test_agreement_gate_refuses_a_bad_export(tiny, tmp_path, monkeypatch):
    from model.transformer import OnnxTransformerModel
    from training.transformer import train_transformer
    from training.transformer.export import ExportAgreementError

    base, dataset, _, _ = tiny
    real = OnnxTransformerModel.logits
    monkeypatch.setattr(OnnxTransformerModel, "logits",
                        lambda self, texts: -real(self, texts))  # a broken export
    models = tmp_path / "models"
    with pytest.raises(ExportAgreementError, match="agrees with the fp32 model"):
        train_transformer(dataset, models, tiny_options(base, tmp_path / "work", max_steps=20))
    assert not models.exists() or not any(models.iterdir())


def baseline_trained_on(dataset: Path, classifier: Classifier, folder: Path) -> Path:
    """Save the fixture baseline as trained on ``dataset`` (it was: the same listings)."""
    fingerprint = json.loads((dataset / "dataset_info.json").read_text())["fingerprint"]
    clf = copy.copy(classifier)
    clf.config = {**classifier.config, "dataset": {"fingerprint": fingerprint}}
    return clf.save(folder)


def test_cascade_refuses_parts_trained_on_another_dataset(tiny, tiny_classifier, tmp_path):
    from training.transformer import build_cascade

    _, dataset, _, transformer_bundle = tiny
    other = tiny_classifier.save(tmp_path / "baseline")  # its config names no dataset
    with pytest.raises(ValueError, match="the baseline baseline-test was trained on dataset"):
        build_cascade(other, transformer_bundle, dataset, tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_cascade_refuses_parts_of_the_wrong_kind(tiny, tiny_classifier, tmp_path):
    """A name that resolves to the wrong kind (as "default" does to the newest bundle when
    no default is set) is refused, not built into a cascade of two transformers."""
    from training.transformer import build_cascade

    _, dataset, _, transformer_bundle = tiny
    baseline_bundle = baseline_trained_on(dataset, tiny_classifier, tmp_path / "baseline")
    with pytest.raises(ValueError, match=r"baseline part .* is a transformer bundle"):
        build_cascade(transformer_bundle, transformer_bundle, dataset, tmp_path / "models")
    with pytest.raises(ValueError, match=r"transformer part .* is a baseline bundle"):
        build_cascade(baseline_bundle, baseline_bundle, dataset, tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_cascade_bundle_routes_and_serves_without_torch(tiny, tiny_classifier, tmp_path):
    from training.transformer import build_cascade

    _, dataset, _, transformer_bundle = tiny
    baseline_bundle = baseline_trained_on(dataset, tiny_classifier, tmp_path / "baseline")
    path = build_cascade(baseline_bundle, transformer_bundle, dataset, tmp_path / "models")
    config = json.loads((path / "config.json").read_text())
    assert config["kind"] == "cascade"
    assert abs(sum(Classifier.load(path).source_prior) - 1) < 1e-9
    assert Classifier.load(path).adapt_priors(np.full((3, len(LABELS)), 0.2)).method == "bbse"
    assert "baseline/baseline.joblib" in config["files"]
    assert "transformer/hf/model.int8.onnx" in config["files"]
    assert 0 <= config["cascade"]["routed_validation"] <= config["cascade"]["max_routed"]
    assert set(config["runtime_packages"]) >= {"onnxruntime", "scikit-learn"}
    clf = Classifier.load(path)
    texts = [t for t, _ in rows()]
    fast = tiny_classifier.predict_proba(texts)
    slow = Classifier.load(transformer_bundle).predict_proba(texts)
    routed = fast.max(axis=1) < clf.model.cut
    got = clf.predict_proba(texts)
    np.testing.assert_allclose(got[~routed], fast[~routed], atol=1e-9)
    if routed.any():
        assert np.abs(got[routed] - slow[routed]).max() < 0.05
    code = ("import sys; from model import Classifier; "
            f"Classifier.load({str(path)!r}).predict(['9mm ammo x50 rounds']); "
            "assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def fine_tune_parts(base: Path):
    """What ``fine_tune`` needs for the fixture listings: the tokenizer, the encoded rows,
    class weights, and a maker of identically initialised models."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.transformer import finetune

    tokenizer = AutoTokenizer.from_pretrained(base)
    data = rows()
    y = np.array([LABELS.index(label) for _, label in data])
    train = finetune.encode(tokenizer, [t for t, _ in data], y, 32)

    def fresh_model():
        torch.manual_seed(1)
        return AutoModelForSequenceClassification.from_pretrained(base, num_labels=len(LABELS))

    return tokenizer, train, np.ones(len(LABELS)), fresh_model


def collate_dying_in_step(step: int, collate):
    """``collate`` that raises KeyboardInterrupt (a killed run) when training step ``step``
    asks for its batch; tiny_options' batches hold at most 8 rows, evaluation's all 70."""
    calls = {"n": 0}

    def dying(data, rows_, pad_id):
        if len(rows_) <= 8:
            calls["n"] += 1
            if calls["n"] == step:
                raise KeyboardInterrupt
        return collate(data, rows_, pad_id)

    return dying


def test_resume_continues_a_killed_run_exactly(tiny, tmp_path, monkeypatch):
    """Kill in step 8, resume from the step-5 checkpoint: same weights as an unbroken run."""
    import torch

    from training.transformer import finetune

    base, _, _, _ = tiny
    tokenizer, train, weights, fresh_model = fine_tune_parts(base)

    def options(work, **kw):
        return tiny_options(base, work, max_steps=12, checkpoint_steps=5, eval_steps=6, **kw)

    unbroken = fresh_model()
    finetune.fine_tune(unbroken, tokenizer, train, train, weights, options(tmp_path / "a"),
                       tmp_path / "a")

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(finetune, "collate", collate_dying_in_step(8, finetune.collate))
        finetune.fine_tune(fresh_model(), tokenizer, train, train, weights,
                           options(tmp_path / "b"), tmp_path / "b")
    assert (tmp_path / "b" / finetune.CHECKPOINT_FILE).is_file()

    with pytest.raises(FileExistsError, match="--resume"):
        finetune.fine_tune(fresh_model(), tokenizer, train, train, weights,
                           options(tmp_path / "b"), tmp_path / "b")
    with pytest.raises(ValueError, match="learning_rate"):
        finetune.fine_tune(fresh_model(), tokenizer, train, train, weights,
                           options(tmp_path / "b", resume=True, learning_rate=1e-3),
                           tmp_path / "b")
    with pytest.raises(ValueError, match="dataset_fingerprint"):  # a rebuilt dataset
        finetune.fine_tune(fresh_model(), tokenizer, train, train, weights,
                           options(tmp_path / "b", resume=True), tmp_path / "b",
                           dataset_fingerprint="another build")
    with pytest.raises(ValueError, match="patience"):
        finetune.fine_tune(fresh_model(), tokenizer, train, train, weights,
                           options(tmp_path / "b", resume=True, patience=9), tmp_path / "b")

    resumed = fresh_model()
    result = finetune.fine_tune(resumed, tokenizer, train, train, weights,
                                options(tmp_path / "b", resume=True), tmp_path / "b")
    assert result.steps == 12
    for (name, a), (_, b) in zip(unbroken.state_dict().items(), resumed.state_dict().items(),
                                 strict=True):
        assert torch.allclose(a, b, atol=1e-6), name


def test_weight_averaging_makes_the_mean_of_the_late_steps_the_model(tiny, tmp_path,
                                                                      monkeypatch):
    """With ``average_from`` the run's model (in place and in best/) is the mean of the
    weights after each step from that one on, and a killed run resumed averages the same."""
    import torch
    from safetensors.torch import load_file
    from torch.optim.optimizer import register_optimizer_step_post_hook

    from training.transformer import finetune

    base, _, _, _ = tiny
    tokenizer, train, weights, fresh_model = fine_tune_parts(base)

    def options(work, **kw):
        return tiny_options(base, work, max_steps=12, checkpoint_steps=5, eval_steps=6,
                            average_from=8, **kw)

    model, after_step = fresh_model(), []
    hook = register_optimizer_step_post_hook(
        lambda *_: after_step.append({k: v.detach().clone()
                                      for k, v in model.state_dict().items()}))
    try:
        result = finetune.fine_tune(model, tokenizer, train, train, weights,
                                    options(tmp_path / "a"), tmp_path / "a")
    finally:
        hook.remove()
    assert len(after_step) == 12
    assert result.averaged["from_step"] == 8 and result.averaged["to_step"] == 12
    assert result.averaged["steps"] == 5  # the weights after steps 8, 9, 10, 11 and 12
    saved = load_file(result.best_dir / "model.safetensors")
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            mean = torch.stack([w[name] for w in after_step[7:]]).mean(dim=0)
            assert torch.allclose(value, mean, atol=1e-6), name
            if name in saved:
                assert torch.equal(saved[name], value), name

    # killed in step 12, so resumed from the step-10 checkpoint: the mean of steps 8 to 10
    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(finetune, "collate", collate_dying_in_step(12, finetune.collate))
        finetune.fine_tune(fresh_model(), tokenizer, train, train, weights,
                           options(tmp_path / "b"), tmp_path / "b")
    resumed = fresh_model()
    finetune.fine_tune(resumed, tokenizer, train, train, weights,
                       options(tmp_path / "b", resume=True), tmp_path / "b")
    for name, value in model.state_dict().items():
        assert torch.allclose(resumed.state_dict()[name], value, atol=1e-6), name


def test_the_bundle_says_its_weights_are_averaged(tiny, tmp_path, monkeypatch):
    """Also when fine-tuned with --fine-tune-only and finished by --resume (which must keep
    the averaged model, not average again)."""
    from safetensors.torch import load_file

    from model import Classifier
    from training.lookalike_copies import lookalike_copies
    from training.transformer import pipeline, train_transformer

    base, dataset, _, _ = tiny
    # with cue-word and look-alike copies too (off by default for the transformer): fitted
    # on, recorded and carded
    options = dict(max_steps=6, eval_steps=3, average_from=4, cue_words=3, cue_min_rows=2,
                   lookalike_copies=2)
    encoded: list[list[str]] = []
    encode = pipeline.encode
    monkeypatch.setattr(pipeline, "encode",
                        lambda tokenizer, texts, *a: encoded.append(texts) or encode(
                            tokenizer, texts, *a))
    best = train_transformer(dataset, tmp_path / "models",
                             tiny_options(base, tmp_path / "w", fine_tune_only=True, **options))
    expected = lookalike_copies(pd.read_parquet(dataset / "train.parquet"), "benign", 2,
                                DEFAULT_MAX_DESCRIPTION_CHARS)
    assert len(expected) and set(expected["text"]) <= set(encoded[0])
    assert sum(encoded[0].count(t) for t in set(expected["text"])) >= len(expected)
    averaged_weights = load_file(best / "model.safetensors")
    bundle = train_transformer(dataset, tmp_path / "models",
                               tiny_options(base, tmp_path / "w", resume=True, **options))
    training = Classifier.load(bundle).config["training"]
    assert training["cue_copies"] > 0 and any(training["cue_words"].values())
    assert training["lookalike_copies"] == len(expected)
    assert set(training["cue_words"]) == {"drugs", "weapons", "counterfeit", "stolen_data"}
    averaged = training["weight_average"]
    assert (averaged["from_step"], averaged["to_step"], averaged["steps"]) == (4, 6, 3)
    card = (bundle / "README.md").read_text(encoding="utf-8")
    assert "the mean of the weights after each of steps 4-6 (weight averaging" in card
    assert f"{training['cue_copies']} copies of illicit listings with the words" in card
    assert f"{len(expected)} short copies of the lawful look-alikes' titles" in card
    after_resume = load_file(best / "model.safetensors")
    assert after_resume.keys() == averaged_weights.keys()
    assert all((after_resume[k] == v).all() for k, v in averaged_weights.items())


def test_fine_tune_only_then_resume_elsewhere_makes_the_bundle(tiny, tmp_path):
    """Fine-tune on one machine, copy the work folder, finish on another with --resume."""
    import shutil

    import torch

    from model import Classifier
    from training.transformer import finetune, train_transformer

    base, dataset, _, _ = tiny
    options = dict(max_steps=20, eval_steps=10)
    best = train_transformer(dataset, tmp_path / "models",
                             tiny_options(base, tmp_path / "gpu", fine_tune_only=True, **options))
    assert best == tmp_path / "gpu" / finetune.BEST_DIR
    assert not (tmp_path / "models").exists()  # no bundle yet
    finished = torch.load(tmp_path / "gpu" / finetune.CHECKPOINT_FILE, weights_only=False)
    assert finished["done"] and finished["step"] == 20
    assert "model" not in finished and "optimizer" not in finished  # bookkeeping only

    shutil.copytree(tmp_path / "gpu", tmp_path / "cpu")
    shutil.rmtree(tmp_path / "gpu")
    bundle = train_transformer(dataset, tmp_path / "models",
                               tiny_options(base, tmp_path / "cpu", resume=True, **options))
    classifier = Classifier.load(bundle)
    assert classifier.config["training"]["steps"] == 20
    assert classifier.config["training"]["history"] == finished["history"]
    assert len(classifier.predict(["cocaine 1g", "garden chair"])) == 2


def test_a_run_is_a_function_of_its_seed(tiny, tmp_path):
    """The same recipe and seed give the same weights, bit for bit, whatever drew from
    torch's generator before (the new classification head is drawn from it); another seed
    gives other weights."""
    import torch
    from safetensors.torch import load_file

    from training.transformer import train_transformer

    base, dataset, _, _ = tiny

    def weights(name: str, seed: int, disturb: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(disturb)  # as if something else had run before in the process
        torch.rand(disturb)
        best = train_transformer(dataset, tmp_path / "models",
                                 tiny_options(base, tmp_path / name, max_steps=4, eval_steps=4,
                                              seed=seed, fine_tune_only=True))
        return load_file(best / "model.safetensors")

    first, again, other = weights("a", 7, 1), weights("b", 7, 2), weights("c", 8, 1)
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_max_minutes_ends_a_run_as_finished(tiny, tmp_path, monkeypatch):
    """A time budget stops training cleanly: validated, best model kept, run marked done."""
    import torch

    from training.transformer import finetune, train_transformer

    base, dataset, _, _ = tiny
    clock = {"now": 0.0}

    def fake_monotonic():
        clock["now"] += 1.0  # every call "takes" a second
        return clock["now"]

    monkeypatch.setattr(finetune.time, "monotonic", fake_monotonic)
    best = train_transformer(dataset, tmp_path / "models",
                             tiny_options(base, tmp_path / "w", max_steps=500, eval_steps=1000,
                                          max_minutes=0.5, fine_tune_only=True))
    state = torch.load(tmp_path / "w" / finetune.CHECKPOINT_FILE, weights_only=False)
    assert state["done"] and 0 < state["step"] < 500
    assert state["history"][-1]["step"] == state["step"]  # validated where it stopped
    assert best.is_dir()


def test_a_half_precision_base_is_fine_tuned_in_fp32(tiny, tmp_path):
    """AdamW on fp16 parameters would lose small updates: the base is loaded as fp32."""
    import torch
    from transformers import AutoConfig

    from training.transformer import train_transformer

    _, dataset, _, _ = tiny
    base = write_tiny_base(tmp_path / "half", half=True)
    assert AutoConfig.from_pretrained(base).dtype in ("float16", torch.float16)
    best = train_transformer(dataset, tmp_path / "models",
                             tiny_options(base, tmp_path / "w", max_steps=2, eval_steps=2,
                                          fine_tune_only=True))
    assert AutoConfig.from_pretrained(best).dtype in ("float32", torch.float32)


def test_cascade_routing_budget_from_the_command_line(tiny, tiny_classifier, tmp_path):
    """`contraband train --model cascade --cascade-max-routed 0` routes nothing; --name."""
    from cli.main import main

    _, dataset, _, transformer_bundle = tiny
    baseline_bundle = baseline_trained_on(dataset, tiny_classifier, tmp_path / "baseline")
    models = tmp_path / "models"
    code = main(["train", "--model", "cascade", "--dataset", str(dataset), "--models-dir",
                 str(models), "--cascade-baseline", str(baseline_bundle),
                 "--cascade-transformer", str(transformer_bundle), "--cascade-max-routed", "0",
                 "--cascade-tolerance", "0.01", "--name", "cascade-budget-0"])
    assert code == 0
    [bundle] = [p for p in models.iterdir() if p.name.startswith("cascade-")]
    assert bundle.name == "cascade-budget-0"  # --name is honoured for every kind
    config = json.loads((bundle / "config.json").read_text())["cascade"]
    assert config["max_routed"] == 0 and config["tolerance"] == 0.01
    assert config["routed_validation"] == 0


def dataset_with_supplement(dataset: Path, folder: Path, supplement: pd.DataFrame,
                            train: pd.DataFrame | None = None) -> Path:
    """A copy of ``dataset`` in ``folder`` with ``supplement`` as its supplement "lawful"
    (and ``train`` as its train split, when given)."""
    import shutil

    shutil.copytree(dataset, folder)
    if train is not None:
        train.to_parquet(folder / "train.parquet", index=False)
    supplement.to_parquet(folder / "supplement-lawful.parquet", index=False)
    info = json.loads((folder / "dataset_info.json").read_text())
    info["supplements"] = {"lawful": {"rows": len(supplement), "label": "benign",
                                      "sha256": "x", "dropped": {}}}
    (folder / "dataset_info.json").write_text(json.dumps(info))
    return folder


def record_encoded_texts(monkeypatch) -> list[list[str]]:
    """Patch the pipeline's tokenising step to record each list of texts it encodes."""
    from training.transformer import pipeline

    seen: list[list[str]] = []
    real_encode = pipeline.encode

    def recording_encode(tokenizer, texts, *args, **kwargs):
        seen.append(list(texts))
        return real_encode(tokenizer, texts, *args, **kwargs)

    monkeypatch.setattr(pipeline, "encode", recording_encode)
    return seen


def test_augment_adds_obfuscated_copies_to_the_training_texts(tiny, tmp_path, monkeypatch):
    """--augment gives the transformer the baseline's obfuscated copies (default: none)."""
    from training.transformer import train_transformer

    base, dataset, _, _ = tiny
    seen = record_encoded_texts(monkeypatch)
    for augment in (0.0, 1.0):
        train_transformer(dataset, tmp_path / "models",
                          tiny_options(base, tmp_path / f"w{augment}", max_steps=1, eval_steps=1,
                                       fine_tune_only=True, augment=augment))
    plain, augmented = seen[0], seen[2]  # each run encodes training then early-stopping texts
    assert len(augmented) > 1.5 * len(plain)
    assert augmented[: len(plain)] == plain
    assert set(augmented[len(plain):]) - set(plain)  # the copies are perturbed, not repeats
    with pytest.raises(ValueError, match="augment"):
        tiny_options(base, tmp_path / "bad", augment=-1.0)


def test_layers_keeps_the_first_encoder_layers_of_the_base(tiny, tmp_path):
    """--layers 1 on the two-layer base: the fine-tuned model has one layer, and it holds
    the base's first layer as its starting point (the second is left unloaded)."""
    import torch
    from transformers import AutoConfig, AutoModel

    from training.transformer import train_transformer
    from training.transformer.pipeline import _layer_override

    base, dataset, _, _ = tiny
    best = train_transformer(dataset, tmp_path / "models",
                             tiny_options(base, tmp_path / "w", max_steps=1, eval_steps=1,
                                          learning_rate=1e-9, fine_tune_only=True, layers=1))
    assert AutoConfig.from_pretrained(best).num_hidden_layers == 1
    kept = AutoModel.from_pretrained(best).encoder.layer[0].output.dense.weight
    first = AutoModel.from_pretrained(base).encoder.layer[0].output.dense.weight
    assert torch.allclose(kept, first, atol=1e-5)  # one near-zero step from the base's own
    with pytest.raises(ValueError, match="has only 2 encoder layers"):
        _layer_override(base, 3)
    assert _layer_override(base, None) == {}


def test_supplement_rows_join_the_training_texts(tiny, tmp_path, monkeypatch):
    """--supplement adds the dataset's training-only rows whole, after the class caps."""
    from training.transformer import train_transformer

    base, dataset, _, _ = tiny
    rows = pd.read_parquet(dataset / "train.parquet").head(2).assign(
        title=["Kindle Fire HDX 8.9 sealed", "Weight Training For Dummies"],
        description=None, label="benign", group=["s0", "s1"])
    rows["text"] = rows["title"]
    copy = dataset_with_supplement(dataset, tmp_path / "dataset", rows)
    seen = record_encoded_texts(monkeypatch)
    bundle = train_transformer(copy, tmp_path / "models",
                               tiny_options(base, tmp_path / "w", supplements=["lawful"]))
    assert {"Kindle Fire HDX 8.9 sealed", "Weight Training For Dummies"} <= set(seen[0])
    config = json.loads((bundle / "config.json").read_text())
    assert config["dataset"]["supplements"] == {"lawful": {"rows": 2, "sha256": "x"}}
    assert config["training"]["options"]["supplements"] == ["lawful"]
    assert "`lawful` (2 rows)" in (bundle / "README.md").read_text()
    with pytest.raises(ValueError, match="has no supplement 'nope'"):  # before any training
        train_transformer(copy, tmp_path / "models",
                          tiny_options(base, tmp_path / "w2", supplements=["nope"]))


def test_linear_probe_trains_the_head_alone_and_frozen_embeddings_never_move(
        tiny, tmp_path, monkeypatch):
    """--linear-probe-steps 2 --freeze-embeddings: after steps 1 and 2 only the head (the
    classifier and BERT's pooler) has moved; from step 3 the encoder trains too; the word
    embeddings stay the base's throughout."""
    import torch
    from transformers import AutoModel

    from training.transformer import finetune, train_transformer

    snapshots = []
    original = finetune.predict_logits

    def recording(model, *args, **kwargs):  # called once per validation, i.e. every step
        snapshots.append({n: p.detach().clone() for n, p in model.named_parameters()})
        return original(model, *args, **kwargs)

    monkeypatch.setattr(finetune, "predict_logits", recording)
    base, dataset, _, _ = tiny
    train_transformer(dataset, tmp_path / "models",
                      tiny_options(base, tmp_path / "w", max_steps=4, eval_steps=1,
                                   linear_probe_steps=2, freeze_embeddings=True,
                                   fine_tune_only=True))
    pretrained = {f"bert.{n}": p for n, p in AutoModel.from_pretrained(base).named_parameters()}
    layer = "bert.encoder.layer.0.output.dense.weight"
    embeddings = "bert.embeddings.word_embeddings.weight"
    assert len(snapshots) == 4
    for after_probe_step in snapshots[:2]:
        assert torch.equal(after_probe_step[layer], pretrained[layer])
    assert not torch.equal(snapshots[0]["classifier.weight"], snapshots[1]["classifier.weight"])
    assert not torch.equal(snapshots[0]["bert.pooler.dense.weight"],
                           snapshots[1]["bert.pooler.dense.weight"])
    assert not torch.equal(snapshots[2][layer], pretrained[layer])
    assert all(torch.equal(s[embeddings], pretrained[embeddings]) for s in snapshots)


def test_register_bias_joins_the_loss_and_the_bundle_records_it(tiny, tmp_path, monkeypatch):
    """--register-bias: fine-tuning gets a bias model's log-probabilities for the training
    rows (none for validation), and the bundle's config and card say so. The fixture's
    darknet rows, lawful (a supplement) and illicit, share a way of writing shops lack."""
    from training.transformer import pipeline, train_transformer

    base, dataset, _, _ = tiny
    train = pd.read_parquet(dataset / "train.parquet")
    darknet = train["kind"].eq("darkweb")
    train.loc[darknet, "text"] = train.loc[darknet, "text"] + " | escrow pgp worldwide"
    lawful = train[darknet].head(6).assign(
        title=[f"{g} escrow pgp worldwide" for g in ("tobacco", "ebook", "phone", "watch",
                                                      "grinder", "lighter")],
        description=None, label="benign", group=[f"s{i}" for i in range(6)])
    lawful["text"] = lawful["title"]
    copy = dataset_with_supplement(dataset, tmp_path / "dataset", lawful, train=train)
    seen = []
    real_fine_tune = pipeline.fine_tune

    def recording(model, tokenizer, train_data, validation, *args, **kwargs):
        seen.append((train_data.bias, validation.bias, len(train_data)))
        return real_fine_tune(model, tokenizer, train_data, validation, *args, **kwargs)

    monkeypatch.setattr(pipeline, "fine_tune", recording)
    bundle = train_transformer(copy, tmp_path / "models",
                               tiny_options(base, tmp_path / "w", supplements=["lawful"],
                                            register_bias=0.5))
    (bias, validation_bias, n), = seen
    assert validation_bias is None and bias.shape == (n, len(LABELS))
    assert np.allclose(np.exp(bias).sum(axis=1), 1.0, atol=1e-5)
    assert np.ptp(bias, axis=0).max() > 0.01  # register rows differ from the others
    config = json.loads((bundle / "config.json").read_text())
    assert config["training"]["register_bias_features"] > 0
    assert config["training"]["options"]["register_bias"] == 0.5
    assert "product of experts" in (bundle / "README.md").read_text()
    with pytest.raises(ValueError, match="register_bias_spread must be positive"):
        tiny_options(base, tmp_path / "bad", register_bias_spread=0.0)


def test_occlusion_explains_the_transformer_word_by_word(tiny):
    """Each word's weight is the class's log-odds with the listing minus without that word,
    every variant scored alone, so the figures are exact."""
    from model.explain import explain
    from model.occlusion import class_log_odds

    _, _, _, bundle = tiny
    clf = Classifier.load(bundle)
    weapons = LABELS.index("weapons")
    result = explain(clf, "glock pistol with spare mags", top_k=10, time_budget_s=60,
                     class_name="weapons")
    assert result.status == "ok" and result.unit == "log-odds"
    [text] = clf.prepare(["glock pistol with spare mags"])
    words = text.split()
    assert sorted(w for w, _ in result.words) == sorted(words)

    def log_odds(t):
        return class_log_odds(clf.model.predict_proba([t]), weapons)[0]

    for i, word in enumerate(words):
        expected = log_odds(text) - log_odds(" ".join(words[:i] + words[i + 1 :]))
        assert dict(result.words)[word] == pytest.approx(expected, abs=1e-12)
    assert [w for w, _ in result.words] == sorted(
        words, key=lambda w: -abs(dict(result.words)[w]))


def test_words_the_transformer_never_reads_are_not_explained(tiny):
    """tiny_options truncates at 32 tokens: [CLS], 30 words of one token each, [SEP]."""
    base, _, _, bundle = tiny
    model = Classifier.load(bundle).model
    vocabulary = (base / "vocab.txt").read_text(encoding="utf-8").split()
    words = [w for w in vocabulary if w.isalpha() and w not in SPECIAL][:40]
    assert len(words) == 40 and all(len(model.tokenizer.encode(w).ids) == 3 for w in words)
    text = " ".join(words)
    assert model.readable_words(text) == 30
    explained = dict(model.token_contributions(text, LABELS.index("drugs")))
    assert set(explained) == set(words[:30])
    # the words past the cut really change nothing
    np.testing.assert_array_equal(model.predict_proba([text]),
                                  model.predict_proba([" ".join(words[:31])]))
    assert model.readable_words("") == 0 and model.token_contributions("", 0) == []


def test_the_suite_counts_the_listings_the_transformer_cuts_short(tiny, tiny_classifier):
    """tiny_options truncates at 32 tokens: a listing of 31 one-token words runs past it."""
    from model.cascade import CascadeModel
    from training.suite.input_ablation import input_read

    base, _, _, bundle = tiny
    classifier = Classifier.load(bundle)
    vocabulary = (base / "vocab.txt").read_text(encoding="utf-8").split()
    words = [w for w in vocabulary if w.isalpha() and w not in SPECIAL][:31]
    assert list(classifier.model.truncated([" ".join(words[:30]), " ".join(words)])) == [
        False, True]
    long_title, short_title = " ".join(words), "mdma"
    frame = pd.DataFrame({"title": [long_title, short_title, short_title, short_title],
                          "description": [None, "pure mdma " * 90, None, ""],
                          "market": ["shop", "shop", "darknet", "darknet"],
                          "label": ["benign", "drugs", "drugs", "drugs"]})
    read = input_read(classifier, {"cross_market": frame})
    assert read["max_tokens"] == 32
    entry = read["splits"]["cross_market"]
    assert entry["rows"] == 4 and entry["description_cut_share"] == 0.25
    assert entry["tokens_cut_share"] == 0.5  # the long title, and the long description
    assert entry["per_market"]["darknet"]["tokens_cut_share"] == 0.0
    assert entry["per_market"]["shop"]["tokens_cut_share"] == 1.0
    # a cascade is cut short where its transformer part is; a baseline has no token limit
    cascade = copy.copy(tiny_classifier)
    cascade.model = CascadeModel(tiny_classifier.model, classifier.model, cut=0.5)
    assert input_read(cascade, {"test": frame})["splits"]["test"]["tokens_cut_share"] == 0.5
    plain = input_read(tiny_classifier, {"test": frame})
    assert plain["max_tokens"] is None and plain["splits"]["test"]["tokens_cut_share"] is None


def test_occlusion_explains_the_cascade_as_it_serves(tiny, tiny_classifier):
    """A cut of 1.0 sends every variant to the transformer, blended half and half."""
    from model.cascade import CascadeModel
    from model.occlusion import class_log_odds

    _, _, _, bundle = tiny
    cascade = CascadeModel(tiny_classifier.model, Classifier.load(bundle).model, cut=1.0,
                           slow_weight=0.5)
    drugs = LABELS.index("drugs")
    text = listing_text("mdma crystal 5g stealth")
    words = text.split()
    got = dict(cascade.token_contributions(text, drugs))
    assert set(got) == set(words) and cascade.contribution_unit == "log-odds"
    full = class_log_odds(cascade.predict_proba([text]), drugs)[0]
    for i, word in enumerate(words):
        without = class_log_odds(cascade.predict_proba([" ".join(words[:i] + words[i + 1:])]),
                                 drugs)[0]
        assert got[word] == pytest.approx(full - without, abs=1e-9)


def test_the_api_explains_a_transformer_bundle(tiny, tmp_path):
    from fastapi.testclient import TestClient

    from serve.api import create_app
    from tests.api_support import api_settings, headers

    _, _, _, bundle = tiny
    clf = Classifier.load(bundle)
    settings = api_settings(tmp_path, explain_budget_s=30)
    with TestClient(create_app(settings, clf)) as client:
        assert client.get("/v1/model", headers=headers("all")).json()["explanations"] is True
        r = client.post("/v1/classify?explain=true&top_k=2",
                        json={"title": "glock pistol with spare mags"}, headers=headers("all"))
        assert r.status_code == 200, r.text
        explanation = r.json()["results"][0]["explanation"]
    assert explanation["status"] == "ok" and explanation["unit"] == "log-odds"
    assert len(explanation["words"]) == 2
    assert {w["word"] for w in explanation["words"]} <= {"glock", "pistol", "with", "spare",
                                                         "mags"}
