"""contraband scan: output columns, mixed formats, rejects, merging, unreadable files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serve.scan import ScanError, ScanOptions, run_scan
from serve.scan.runner import DEFAULT_CHUNK_ROWS
from tests.fixtures import rows

CLASSES = ["benign", "drugs", "weapons", "counterfeit", "stolen_data"]
ADDED = ["label", *[f"score_{c}" for c in CLASSES], "decision", "model_version"]


def titles(n: int) -> list[str]:
    data = rows()
    return [data[i % len(data)][0] for i in range(n)]


def write_inputs(folder: Path) -> dict[str, list[str]]:
    """A Parquet, a CSV and a gzipped JSONL file with a few bad rows; returns ids by fate."""
    folder.mkdir(parents=True, exist_ok=True)
    names = titles(40)
    pd.DataFrame({"id": [f"p{i}" for i in range(40)], "title": names,
                  "description": ["from the parquet"] * 40, "market": ["agora", "cypher"] * 20,
                  "price": [float(i) for i in range(40)]}).to_parquet(folder / "a.parquet")
    csv = b"id,title,description,market\n"
    csv += b"c1,Glock 19 with 2 mags,\"multi\nline\",agora\n"
    csv += b"c2,broken line with too few fields\n"  # broken: 2 fields
    csv += b"c3,,empty title,agora\n"
    csv += b"c4,\xff\xfe bad bytes,x,agora\n"
    csv += b"c5,Xanax 2mg bars x100,,flipkart\n"
    (folder / "b.csv").write_bytes(csv)
    lines = [
        json.dumps({"id": "j1", "title": "LSD blotters 200ug x10", "market": "dream"}),
        json.dumps({"id": "j2", "title": 123, "market": "dream"}),
        json.dumps({"id": "j3", "description": "no title here"}),
        "{not json",
        json.dumps({"id": "j5", "title": "Netflix premium account lifetime", "extra": [1, 2]}),
    ]
    raw = ("\n".join(lines) + "\n").encode() + b'{"id": "j6", "title": "\xff"}\n'
    (folder / "c.jsonl.gz").write_bytes(gzip.compress(raw))
    return {
        "scanned": [f"p{i}" for i in range(40)] + ["c1", "c5", "j1", "j5"],
        "rejected_with_id": ["c3", "c4", "j2", "j3"],
    }


def scan(models_dir: Path, inputs: list[Path | str], output: Path, **kwargs) -> dict:
    options = ScanOptions(inputs=[str(i) for i in inputs], output=str(output),
                          model="baseline-test", models_dir=str(models_dir),
                          progress=False, **{"chunk_rows": 7, "workers": 1, **kwargs})
    return run_scan(options)


def read_parts(folder: Path) -> pd.DataFrame:
    parts = sorted((folder / "parts").glob("part-*.parquet"))
    return pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)


def read_rejects(folder: Path) -> list[dict]:
    text = (folder / "rejects.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_mixed_formats_columns_and_rejects(models_dir, tmp_path):
    expected = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    summary = scan(models_dir, [tmp_path / "in"], out)
    table = pq.read_table(sorted((out / "parts").glob("*.parquet"))[0])
    assert table.column_names == ["id", "title", "description", "market", "price", *ADDED]
    frame = read_parts(out)
    assert sorted(frame["id"]) == sorted(expected["scanned"])
    assert set(frame["model_version"]) == {"baseline-test"}
    scores = frame[[f"score_{c}" for c in CLASSES]].to_numpy()
    assert (frame["label"] == [CLASSES[i] for i in scores.argmax(axis=1)]).all()
    assert set(frame["decision"]) <= {"allow", "review", "block"}

    rejects = read_rejects(out)
    reasons = {r["id"]: r["reason"] for r in rejects if r["id"]}
    assert sorted(reasons) == sorted(expected["rejected_with_id"])
    assert reasons["c3"].startswith("empty title")
    assert reasons["c4"].startswith("undecodable bytes")
    assert reasons["j2"].startswith("wrong type")
    assert reasons["j3"].startswith("missing title")
    no_id = [r["reason"] for r in rejects if not r["id"]]
    assert any(r.startswith("broken CSV line") for r in no_id)
    assert any(r.startswith("broken JSON line") for r in no_id)
    assert any(r.startswith("undecodable bytes") for r in no_id)
    assert all(r["source"] and (r["row"] or r["line"]) for r in rejects)

    assert summary["complete"]
    assert summary["rows_scanned"] == len(expected["scanned"])
    assert summary["rows_rejected"] == len(rejects) == 7
    assert summary["rows_read"] == summary["rows_scanned"] + summary["rows_rejected"]
    assert sum(summary["per_class"].values()) == summary["rows_scanned"]
    assert summary["per_group"]["market"]["agora"]["rows"] == 21
    assert json.loads((out / "summary.json").read_text())["rows_read"] == summary["rows_read"]


def test_unpaired_surrogate_escapes_are_rejected_rows_not_a_lost_file(models_dir, tmp_path):
    """JSON allows "\\ud800" alone, but it is not Unicode: the row is rejected with a reason,
    the rest of the file is scanned, and a row rejected for another reason is still logged."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "s.jsonl").write_text(
        '{"id": "ok1", "title": "Glock 19 with 2 mags"}\n'
        '{"id": "bad1", "title": "bad \\ud800 x"}\n'
        '{"id": "bad2", "title": "bad \\ud800", "description": 5}\n'
        '{"id": "ok2", "title": "ski goggles \\ud83d\\ude00"}\n', encoding="utf-8")
    summary = scan(models_dir, [folder], tmp_path / "out")
    assert sorted(read_parts(tmp_path / "out")["id"]) == ["ok1", "ok2"]
    rejects = read_rejects(tmp_path / "out")
    assert len(rejects) == 2 and all("surrogate" in r["reason"] for r in rejects)
    assert summary["complete"] and summary["rows_read"] == 4


def test_categorical_text_columns_are_read_as_text(models_dir, tmp_path):
    """pandas writes a categorical column as an Arrow dictionary: it is still the title."""
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({"id": ["a", "b", "c"],
                  "title": pd.Categorical(["Glock 19 with 2 mags", "ski goggles", None]),
                  "description": pd.Categorical(["x", None, "y"])}).to_parquet(folder / "c.parquet")
    summary = scan(models_dir, [folder], tmp_path / "out")
    assert sorted(read_parts(tmp_path / "out")["id"]) == ["a", "b"]
    assert [r["reason"] for r in read_rejects(tmp_path / "out")] == [
        "missing title ('title' is null)"]
    assert summary["rows_read"] == 3


def test_scores_match_classifier(models_dir, tmp_path, tiny_classifier):
    write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    scan(models_dir, [tmp_path / "in" / "a.parquet"], out)
    frame = read_parts(out).sort_values("id", key=lambda s: s.str[1:].astype(int))
    proba = tiny_classifier.predict_proba(
        [{"title": t, "description": d} for t, d in zip(frame["title"], frame["description"],
                                                          strict=True)])
    assert frame[[f"score_{c}" for c in CLASSES]].to_numpy() == pytest.approx(proba)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_merge_into_one_file(models_dir, tmp_path, suffix):
    expected = write_inputs(tmp_path / "in")
    target = tmp_path / f"result{suffix}"
    summary = scan(models_dir, [tmp_path / "in"], target)
    if suffix == ".parquet":
        frame = pd.read_parquet(target)
    elif suffix == ".csv":
        frame = pd.read_csv(target, dtype={"id": str})
    else:
        frame = pd.read_json(target, lines=True, dtype={"id": str})
    assert sorted(frame["id"]) == sorted(expected["scanned"])
    assert set(ADDED) <= set(frame.columns)
    assert summary["output"] == str(target)
    work = tmp_path / f"result{suffix}.scan"
    assert (work / "rejects.jsonl").is_file() and not (work / "parts").exists()
    again = scan(models_dir, [tmp_path / "in"], target)  # a finished scan is not redone
    assert again["rows_this_run"] == 0 and again["rows_scanned"] == summary["rows_scanned"]


def test_merge_unifies_conflicting_types(models_dir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"id": [1, 2], "title": ["Glock 19", "Xanax 2mg"]}),
                   folder / "a.parquet")
    (folder / "b.jsonl").write_text(json.dumps({"id": "x-3", "title": "Rolex replica"}) + "\n")
    target = tmp_path / "out.parquet"
    scan(models_dir, [folder], target)
    table = pq.read_table(target)
    assert table.schema.field("id").type == pa.string()
    assert sorted(table.column("id").to_pylist()) == ["1", "2", "x-3"]


def test_clashing_input_column_is_renamed(models_dir, tmp_path):
    path = tmp_path / "labelled.parquet"
    pd.DataFrame({"title": titles(5), "label": ["drugs"] * 5}).to_parquet(path)
    summary = scan(models_dir, [path], tmp_path / "out")
    frame = read_parts(tmp_path / "out")
    assert list(frame["input_label"]) == ["drugs"] * 5
    assert summary["renamed_input_columns"] == ["label"]


def test_unreadable_file_skipped_or_fatal_with_strict(models_dir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({"id": ["ok1", "ok2"], "title": titles(2)}).to_parquet(folder / "good.parquet")
    (folder / "corrupt.parquet").write_bytes(b"this is not parquet at all")
    pd.DataFrame({"name": ["no title column"]}).to_parquet(folder / "notitle.parquet")
    summary = scan(models_dir, [folder], tmp_path / "out")
    assert summary["complete"] and summary["rows_scanned"] == 2
    failed = sorted(Path(f["path"]).name for f in summary["files_failed"])
    assert failed == ["corrupt.parquet", "notitle.parquet"]
    reasons = [r["reason"] for r in read_rejects(tmp_path / "out")]
    assert len(reasons) == 2 and all(r.startswith("unreadable file") for r in reasons)
    with pytest.raises(ScanError, match="strict"):
        scan(models_dir, [folder], tmp_path / "strict", strict=True)


def test_missing_input_is_reported(models_dir, tmp_path):
    good = tmp_path / "good.parquet"
    pd.DataFrame({"title": titles(3)}).to_parquet(good)
    summary = scan(models_dir, [good, tmp_path / "absent.csv"], tmp_path / "out")
    assert summary["rows_scanned"] == 3 and "absent.csv" in summary["input_problems"][0]
    with pytest.raises(ScanError, match="no input files"):
        scan(models_dir, [tmp_path / "absent.csv"], tmp_path / "out2")


def test_chunk_rows_default_to_the_outputs_own_then_the_engines(models_dir, tmp_path):
    write_inputs(tmp_path / "in")
    first = scan(models_dir, [tmp_path / "in"], tmp_path / "out")  # chunk_rows=7
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["chunk_rows"] == 7
    # no --chunk-rows: the output's own chunking, so the same output is resumed, not refused
    again = scan(models_dir, [tmp_path / "in"], tmp_path / "out", chunk_rows=None)
    assert again["complete"] and again["rows_scanned"] == first["rows_scanned"]
    assert again["rows_this_run"] == 0
    scan(models_dir, [tmp_path / "in"], tmp_path / "fresh", chunk_rows=None)
    fresh = json.loads((tmp_path / "fresh" / "manifest.json").read_text(encoding="utf-8"))
    assert fresh["chunk_rows"] == DEFAULT_CHUNK_ROWS["local"]
    scan(models_dir, [tmp_path / "in"], tmp_path / "out", chunk_rows=None, overwrite=True)
    redone = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert redone["chunk_rows"] == DEFAULT_CHUNK_ROWS["local"]


def test_resume_refused_with_other_settings(models_dir, tmp_path):
    write_inputs(tmp_path / "in")
    scan(models_dir, [tmp_path / "in"], tmp_path / "out")
    with pytest.raises(ScanError, match="chunk_rows"):
        scan(models_dir, [tmp_path / "in"], tmp_path / "out", chunk_rows=9)
    with pytest.raises(ScanError, match="group_by"):  # the totals would mix two groupings
        scan(models_dir, [tmp_path / "in"], tmp_path / "out", group_by=("source",))
    (tmp_path / "in" / "b.csv").write_bytes(b"id,title\nz1,new listing\n")
    with pytest.raises(ScanError, match="changed"):
        scan(models_dir, [tmp_path / "in"], tmp_path / "out")
    summary = scan(models_dir, [tmp_path / "in"], tmp_path / "out", overwrite=True)
    assert summary["complete"] and "z1" in set(read_parts(tmp_path / "out")["id"])


def test_column_mapping(models_dir, tmp_path):
    path = tmp_path / "shop.csv"
    path.write_text("sku,name,body\ns1,Glock 19 with 2 mags,pistol\ns2,,empty\n")
    from serve.scan.columns import ColumnMap

    summary = scan(models_dir, [path], tmp_path / "out",
                   columns=ColumnMap(title="name", description="body", id="sku"))
    assert summary["rows_scanned"] == 1
    assert read_rejects(tmp_path / "out")[0]["id"] == "s2"


def test_process_pool_gives_same_output(models_dir, tmp_path):
    write_inputs(tmp_path / "in")
    scan(models_dir, [tmp_path / "in"], tmp_path / "one", workers=1)
    scan(models_dir, [tmp_path / "in"], tmp_path / "two", workers=2)
    one, two = read_parts(tmp_path / "one"), read_parts(tmp_path / "two")
    pd.testing.assert_frame_equal(one, two)
    assert read_rejects(tmp_path / "one") == read_rejects(tmp_path / "two")


def test_parquet_reading_holds_one_row_group_not_the_file(tmp_path):
    """Reading a many-row-group file keeps Arrow's live allocations near one row group's size.

    A single iter_batches over a whole file kept every compressed byte it had read allocated
    until it ended (apache/arrow#39808 reports the like): memory grew with the input.
    """
    import numpy as np

    from serve.scan.columns import ColumnMap
    from serve.scan.inputs import resolve_inputs
    from serve.scan.readers import iter_chunks

    path = tmp_path / "big.parquet"
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, pa.schema([("title", pa.string()),
                                           ("description", pa.string())])) as out:
        for group in range(20):  # 20 row groups, ~2 MB each on disk: random text compresses
            noise = rng.integers(0, 2**63, size=(5_000, 25)).astype(str)
            out.write_table(pa.table({
                "title": [f"listing {group}-{i}" for i in range(5_000)],
                "description": [" ".join(row) for row in noise]}))
    assert path.stat().st_size > 30 * 2**20
    inputs, problems = resolve_inputs([str(path)])
    assert not problems
    baseline, peak, rows = pa.total_allocated_bytes(), 0, 0
    for chunk in iter_chunks(inputs[0], 0, 4_096, ColumnMap()):
        rows += chunk.rows_read
        peak = max(peak, pa.total_allocated_bytes() - baseline)
        del chunk
    assert rows == 100_000
    assert peak < 20 * 2**20


@pytest.mark.parametrize("values", [
    pa.chunked_array([["a", None, "b"], ["a", "(null)", "b", "a"]]),
    pa.array([3, 1, None, 3, 1, 3, 2]),
])
def test_group_counts_equal_a_plain_count(values):
    from collections import Counter

    from serve.scan.scoring import group_counts

    names = ["benign", "drugs", "weapons"]
    label_ids = np.array([0, 1, 2, 1, 1, 0, 2])
    decisions = ["allow", "block", "review", "block", "review", "allow", "block"]
    expected: dict[str, Counter] = {}
    for value, label, decision in zip(values.to_pylist(), label_ids, decisions, strict=True):
        counter = expected.setdefault("(null)" if value is None else str(value), Counter())
        counter.update(["rows", f"label:{names[label]}", f"decision:{decision}"])
    counted = group_counts(values, label_ids, names, decisions)
    assert counted == {k: dict(v) for k, v in expected.items()}
    assert all(type(n) is int for counts in counted.values() for n in counts.values())
