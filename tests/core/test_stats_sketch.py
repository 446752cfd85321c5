"""Percentile sketches: merged exactly, within the documented bound of numpy's percentiles."""

from __future__ import annotations

import numpy as np
import pytest

from geoharmony.execution import sketch
from geoharmony.execution.stats import merge_many


def _sketch_of(v: np.ndarray, parts: int) -> sketch.Sketch:
    """The sketch of ``v``, built from ``parts`` chunks merged through JSON (as tasks do)."""
    kind = sketch.sketch_kind(v.dtype)
    acc = sketch.empty(kind)
    for chunk in np.array_split(v, parts):
        sk = sketch.empty(kind)
        sketch.update(sk, chunk)
        acc = sketch.merge(acc, sketch.from_json(sketch.to_json(sk)))
    return acc


DATA = {
    "normal": lambda r: r.normal(300, 40, 50_000),
    "lognormal": lambda r: r.lognormal(2, 1.5, 50_000),
    "signed-with-zeros": lambda r: np.where(r.random(50_000) < 0.1, 0.0, r.normal(0, 5, 50_000)),
    "utm-like": lambda r: 4_400_000 + r.random(50_000) * 3_000,
    "float32": lambda r: r.normal(-20, 3, 50_000).astype(np.float32),
}


@pytest.mark.parametrize("name", DATA)
@pytest.mark.parametrize("q", [0, 2, 50, 98, 100])
def test_log_sketch_within_bound_of_numpy(name: str, q: float) -> None:
    v = DATA[name](np.random.default_rng(11))
    sk = _sketch_of(v, parts=7)
    assert sk["kind"] == "log"
    est = sketch.quantile(sk, q, float(v.min()), float(v.max()))
    truth = float(np.percentile(v.astype(np.float64), q, method="lower"))
    assert est is not None
    assert abs(est - truth) <= sketch.ALPHA * abs(truth) + sketch.MIN_ABS


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16"])
def test_small_integers_are_exact(dtype: str) -> None:
    info = np.iinfo(dtype)
    v = np.random.default_rng(5).integers(info.min, info.max, 20_001, dtype=dtype)
    sk = _sketch_of(v, parts=5)
    assert sk["kind"] == "exact"
    for q in (2, 50, 98):
        assert sketch.quantile(sk, q, float(v.min()), float(v.max())) == float(
            np.percentile(v, q, method="lower")
        )


def test_merge_is_exact_and_order_free() -> None:
    v = np.random.default_rng(2).normal(10, 3, 10_000)
    assert _sketch_of(v, 1) == _sketch_of(v, 9) == _sketch_of(v[::-1], 4)


def test_empty_sketch_has_no_percentile() -> None:
    assert sketch.quantile(sketch.empty("log"), 50, np.inf, -np.inf) is None


def test_raw_moments_merge_like_numpy() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(5, 2, 1000), rng.normal(8, 1, 300)

    def raw(v: np.ndarray) -> dict[str, object]:
        sk = sketch.empty("log")
        sketch.update(sk, v)
        return {
            "count": [len(v)],
            "mean": [v.mean()],
            "m2": [((v - v.mean()) ** 2).sum()],
            "min": [v.min()],
            "max": [v.max()],
            "sketch": [sketch.to_json(sk)],
        }

    c = rng.normal(4_400_000, 3, 50)  # far from zero: the deviations form stays exact
    m = merge_many([raw(a), raw(b)])
    both = np.concatenate([a, b])
    assert m["count"] == [1300]
    assert m["mean"][0] == pytest.approx(both.mean(), rel=1e-12)
    assert m["m2"][0] / 1300 == pytest.approx(both.var(), rel=1e-12)
    assert [sketch.to_json(x) for x in m["sketch"]] == raw(both)["sketch"]
    parts = [raw(c[:10]), raw(c[10:11]), raw(c[11:])]
    m3 = merge_many(parts)
    assert m3["mean"][0] == pytest.approx(c.mean(), rel=1e-14)
    assert m3["m2"][0] == pytest.approx(((c - c.mean()) ** 2).sum(), rel=1e-9)
    assert (m3["min"][0], m3["max"][0]) == (c.min(), c.max())


def test_json_form_is_compact_and_round_trips() -> None:
    v = np.random.default_rng(8).integers(0, 65535, 200_000, dtype="uint16")
    sk = sketch.empty("exact")
    sketch.update(sk, v)
    js = sketch.to_json(sk)
    assert sketch.from_json(js) == sk
    assert len(str(js)) < 8 * 65536  # dense counts, compressed: not a dict of 65,536 keys


def test_every_value_within_alpha_of_its_bucket_midpoint() -> None:
    """The bound's premise, value by value, over 30 decades and both signs."""
    rng = np.random.default_rng(3)
    v = rng.choice([-1.0, 1.0], 200_000) * 10.0 ** rng.uniform(-8, 22, 200_000)
    keys = np.abs(v).view(np.int64) >> (52 - sketch.MANTISSA_BITS)
    rep = sketch._midpoint(keys)
    assert (np.abs(rep - np.abs(v)) <= sketch.ALPHA * np.abs(v)).all()
    assert (np.abs(rep - np.abs(v)) / np.abs(v)).max() < 0.0040  # 2**-7 / (2 + 2**-7)


@pytest.mark.parametrize("seed", range(4))
def test_float32_top_bits_give_the_float64_buckets(seed: int) -> None:
    """float32 bands count keys from their top 16 bits: the same sketch as the float64 rule.

    Over 60 decades, both signs, zeros, subnormals and values beside MIN_ABS; where the top
    bits cannot decide (inf, NaN, MIN_ABS's own bucket) ``f32_exact`` says so.
    """
    rng = np.random.default_rng(seed)
    v = rng.choice([-1.0, 1.0], 100_000) * 10.0 ** rng.uniform(-30, 30, 100_000)
    v[::97] = 0.0
    v[1::89] = -0.0
    v[2::83] = 1e-40  # float32 subnormal
    v = v.astype(np.float32)
    near = np.abs(v.astype(np.float64))
    key_min = int(np.array(sketch.MIN_ABS).view(np.int64)) >> sketch._SHIFT
    v = v[(near.view(np.int64) >> sketch._SHIFT) != key_min]  # drop MIN_ABS's bucket
    want = sketch.empty("log")
    sketch.update(want, v)
    counts = None
    for part in np.array_split(v, 7):
        counts = sketch.f32_counts(part, counts)
    assert counts is not None and sketch.f32_exact(counts)
    got = sketch.from_f32_counts(counts)
    assert got["z"] == want["z"] and got["p"] == want["p"] and got["n"] == want["n"]


@pytest.mark.parametrize("odd", [np.inf, -np.inf, np.nan, 1e-9, -1e-9])
def test_float32_keys_defer_to_float64_where_top_bits_cannot_tell(odd: float) -> None:
    counts = sketch.f32_counts(np.array([1.0, 2.0, odd], np.float32), None)
    assert not sketch.f32_exact(counts)
    # the odd value alone, or between others in another batch: still detected
    assert not sketch.f32_exact(sketch.f32_counts(np.array([odd], np.float32), None))
    assert not sketch.f32_exact(
        sketch.f32_counts(
            np.array([odd], np.float32), sketch.f32_counts(np.ones(3, np.float32), None)
        )
    )


@pytest.mark.parametrize(
    "dtype", ["float32", "float64", "uint16", "int16", "uint8", "int8", "int32", "bool"]
)
@pytest.mark.parametrize("case", range(6))
def test_cell_moments_equal_a_float64_reference(dtype: str, case: int) -> None:
    """Every path of a cell's moments and sketches (batches as slices or index arrays, all
    valid or masked, an empty patch, inf/NaN in float bands) against plain float64 numpy."""
    from geoharmony.execution.stats import _cell_moments

    rng = np.random.default_rng(case)
    shape = (7, 3, 9, 9)
    if dtype == "bool":
        data = rng.integers(0, 2, shape).astype(bool)
    elif dtype.startswith("float"):
        data = (rng.normal(0, 1, shape) * 10.0 ** rng.integers(-12, 12)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        lo, hi = max(int(info.min), -40000), min(int(info.max), 40000)
        data = rng.integers(lo, hi, shape, endpoint=True).astype(dtype)
    odd = case == 5 and dtype.startswith("float")
    if odd:
        data[0, 0, 0, 0], data[1, 1, 1, 1] = np.inf, np.nan
    mask = rng.random((7, 9, 9)) > (0.3 if case % 2 else 0.0)
    if case == 4:
        mask[2] = False
    idx = np.array([0, 2, 3, 6]) if case % 3 == 0 else np.arange(1, 6)
    got = _cell_moments(data, mask, idx, 2, sketch.sketch_kind(data.dtype))
    for b in range(3):
        v = data[idx, b][mask[idx]]
        f = v.astype(np.float64)
        assert got["count"][b] == len(v)
        if not odd:
            np.testing.assert_allclose(got["mean"][b], f.mean(), rtol=1e-9)
            np.testing.assert_allclose(got["m2"][b], ((f - f.mean()) ** 2).sum(), rtol=1e-7)
            assert (got["min"][b], got["max"][b]) == (f.min(), f.max())
        want = sketch.empty(sketch.sketch_kind(data.dtype))
        sketch.update(want, v)
        assert all(got["sketch"][b].get(k) == want.get(k) for k in ("v", "p", "n", "z"))


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_regions_whole_in_a_task_give_the_entries_a_merge_would(dtype: str) -> None:
    """A region inside one task ends with its entry there; one cut by tasks is merged."""
    from types import SimpleNamespace

    import pandas as pd

    from geoharmony.execution.stats import merge_region_moments, task_moments

    rng = np.random.default_rng(3)
    regions = ["a", "a", "b", "c", "c", "c", "d", "d"]
    splits = ["train", "val", "train", "train", "test", "train", "val", "val"]
    data = (rng.random((8, 2, 6, 5)) * 900).astype(dtype)
    mask = rng.random((8, 6, 5)) > 0.2
    rows = pd.DataFrame({"region": regions, "split": splits})
    outputs = {"x": SimpleNamespace(kind="raster")}

    def records(whole: frozenset[str]) -> list[dict]:
        # two tasks: patches 0-4 and 5-7 (region "c" is cut between them)
        return [
            task_moments(
                SimpleNamespace(
                    rows=rows.iloc[s],
                    outputs=outputs,
                    whole_regions=whole & set(rows.iloc[s]["region"]),
                ),
                {"x": data[s], "x_mask": mask[s]},
            )
            for s in (slice(0, 5), slice(5, 8))
        ]

    merged = merge_region_moments(records(frozenset()))
    ended = records(frozenset({"a", "b", "d"}))
    assert set(ended[0]["region_entries"]["x"]) == {"a", "b"}
    assert set(ended[0]["region_stats"]["x"]) == {"c"}
    assert merge_region_moments(ended) == merged
    assert list(merged["x"]) == ["a", "b", "c", "d"]  # order of appearance
    for rid in "abcd":
        sel = np.array(regions) == rid
        v = data[sel].transpose(1, 0, 2, 3)[:, mask[sel]]
        assert merged["x"][rid]["count"] == [int(mask[sel].sum())] * 2
        np.testing.assert_allclose(merged["x"][rid]["mean"], v.mean(axis=1, dtype=np.float64))
        np.testing.assert_allclose(merged["x"][rid]["std"], v.std(axis=1, dtype=np.float64))


@pytest.mark.parametrize("seed", range(6))
def test_quantiles_are_the_bucket_of_the_ranked_value(seed: int) -> None:
    """Negative, zero and positive values: the estimate is the ranked value's bucket midpoint."""
    rng = np.random.default_rng(seed)
    v = np.concatenate(
        [
            -np.exp(rng.normal(2, 3, 500)),
            np.zeros(rng.integers(0, 50)),
            np.exp(rng.normal(0, 4, 700)),
        ]
    )
    v = v[rng.permutation(len(v))][: rng.integers(1, len(v))]
    sk = sketch.empty("log")
    sketch.update(sk, v)
    ordered = np.sort(v)
    for q in (0.0, 2.0, 37.5, 50.0, 98.0, 100.0):
        x = float(ordered[int(np.floor(q / 100 * (len(v) - 1)))])
        if abs(x) < sketch.MIN_ABS:
            want = 0.0
        else:
            key = int(np.array(abs(x)).view(np.int64)) >> (52 - sketch.MANTISSA_BITS)
            want = float(np.sign(x) * sketch._midpoint(np.array([key]))[0])
        want = min(max(want, float(v.min())), float(v.max()))
        assert sketch.quantile(sk, q, float(v.min()), float(v.max())) == want
        assert sketch.quantiles(sk, (q, q), float(v.min()), float(v.max())) == [want, want]
