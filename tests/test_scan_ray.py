"""The Ray engine gives the same rows, scores and rejects as the local engine."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.test_scan import read_parts, read_rejects, scan, write_inputs

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install "
                          "'contraband[distributed]'); the Ray engine cannot be tested")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_matches_local_engine(models_dir, tmp_path, local_ray):
    write_inputs(tmp_path / "in")
    local = scan(models_dir, [tmp_path / "in"], tmp_path / "local")
    distributed = scan(models_dir, [tmp_path / "in"], tmp_path / "ray", engine="ray", workers=1)
    a = read_parts(tmp_path / "local").sort_values("id").reset_index(drop=True)
    b = read_parts(tmp_path / "ray").sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)  # identical labels and scores, bit for bit
    key = lambda r: (r["source"], r["row"] or 0, r["line"] or 0)  # noqa: E731
    assert sorted(read_rejects(tmp_path / "local"), key=key) == sorted(
        read_rejects(tmp_path / "ray"), key=key)
    for name in ("rows_read", "rows_scanned", "rows_rejected", "per_class", "per_decision"):
        assert local[name] == distributed[name]


def test_ray_streams_each_chunk_to_the_driver_on_its_own(models_dir, tmp_path, local_ray,
                                                          monkeypatch):
    """One chunk per block: Ray Data's default packs yielded rows into 128 MiB blocks, which
    held a scan's scored chunks in the object store until the end (see engine_ray)."""
    write_inputs(tmp_path / "in")
    sizes: list[int] = []
    iter_batches = ray.data.Dataset.iter_batches

    def recording(self, *args, **kwargs):
        for batch in iter_batches(self, *args, **kwargs):
            sizes.append(len(batch["kind"]))
            yield batch

    monkeypatch.setattr(ray.data.Dataset, "iter_batches", recording)
    context = ray.data.DataContext.get_current()
    before = context.target_max_block_size
    summary = scan(models_dir, [tmp_path / "in"], tmp_path / "ray", engine="ray", workers=1)
    assert summary["rows_scanned"] > 7  # several 7-row chunks
    assert len(sizes) > 3 and set(sizes) == {1}  # every chunk and file end arrives alone
    assert context.target_max_block_size == before  # the caller's setting is restored
