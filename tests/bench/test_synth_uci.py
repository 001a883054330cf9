"""The generated stand-ins for the UCI releases: their schemas, sentinels, calendars and labels, as files the
pipeline's readers and the benchmark's trees take."""
from __future__ import annotations

import numpy as np
import pytest

from bench import synth_uci, trees
from bench._common import Dataset
from components import storage
from components.data.features import encode_labels

ROWS = 6000


@pytest.fixture(scope="module", params=list(synth_uci.SHAPES))
def generated(request, tmp_path_factory):
    shape = request.param
    path = synth_uci.write(synth_uci.generate(shape, ROWS, seed=3), tmp_path_factory.mktemp(shape) / f"{shape}.csv")
    return shape, path


def test_each_shape_has_the_release_columns_label_and_positive_share(generated):
    shape, path = generated
    frame = storage.read_csv(path)  # the pipeline's reader: `;` found, quotes removed
    assert list(frame.columns) == synth_uci.columns(shape)
    labels = encode_labels(frame["y"], "y")
    assert abs(labels.mean() - synth_uci.SHAPES[shape][1]) < 0.015
    never = -1 if shape == "bank-full" else 999
    assert 0.5 < np.mean(frame["pdays"] == never) < 0.99
    assert frame["pdays"][frame["pdays"] != never].between(0, 900).all()
    if shape == "bank-additional-full":
        assert {"balance", "day"}.isdisjoint(frame.columns)
        assert set(frame["day_of_week"]) == {"mon", "tue", "wed", "thu", "fri"}
        assert frame[["euribor3m", "nr.employed", "emp.var.rate"]].corrwith(frame["y"].eq("yes")).lt(-0.2).all()


def test_the_same_seed_gives_the_same_file_and_another_seed_another(generated):
    shape, path = generated
    assert synth_uci.generate(shape, ROWS, seed=3).equals(storage.read_csv(path))
    assert not synth_uci.generate(shape, ROWS, seed=4).equals(storage.read_csv(path))


def test_the_trees_find_the_calendar_each_shape_has(generated):
    shape, path = generated
    found = trees.calendar_columns(Dataset(path, "y"))
    expected = ["day_of_year"] if shape == "bank-full" else ["month_number", "weekday_number"]
    assert list(found) == expected
    assert all(np.isfinite(v).all() and v.min() >= 0 for v in found.values())


def test_duration_carries_signal_but_does_not_decide_alone(generated):
    from sklearn.metrics import roc_auc_score

    _, path = generated
    frame = storage.read_csv(path)
    assert 0.7 < roc_auc_score(frame["y"].eq("yes"), frame["duration"]) < 0.9
