import pytest

from components.config.overrides import from_dict, to_dict, with_overrides
from components.config.sections import PipelineConfig, SplitConfig
from components.config.train import TrainConfig
from components.core.errors import UsageError


def test_defaults_are_the_recipe_measured_against_the_trees():
    """bench/RESULTS.md, "Every release, the strongest trees": wide_deep distilling LightGBM."""
    train = TrainConfig()
    assert (train.family, train.distill.teacher, train.fit.patience, train.fit.reduce_lr_patience) == \
        ("wide_deep", "auto", 5, 2)
    assert (train.features.numeric_bins, train.features.date_bins, train.features.crosses) == (16, 48, "auto")
    assert (train.fit.batch_size, train.fit.epochs, train.mlp.hidden_units) == (100, 100, 30)
    assert train.teacher(in_memory=True) == "lightgbm" and train.teacher(in_memory=False) == ""
    split = SplitConfig()
    assert (split.train_fraction, split.validation_fraction, split.test_fraction) == (0.8, 0.1, 0.1)


def test_dotted_overrides_are_coerced_from_strings():
    config = with_overrides(PipelineConfig(), {"train.epochs": "5", "split.format": "tfrecord",
                                                          "validate.fail_on_drift": "true"})
    assert config.train.fit.epochs == 5 and config.split.format == "tfrecord" and config.validate.fail_on_drift


def test_unknown_key_names_the_key_and_suggests_the_closest():
    with pytest.raises(UsageError, match=r"train.epoch'.*Did you mean train.epochs"):
        with_overrides(PipelineConfig(), {"train.epoch": 3})


@pytest.mark.parametrize("overrides, message", [
    ({"train.epochs": -1}, r"epochs=-1 .*integer >= 1"),
    ({"train.epochs": "2.5"}, r"train.epochs='2.5' is not a valid int"),
    ({"split.train_fraction": 0.7}, r"sum to 1"),
    ({"split.format": "parquet"}, r"format='parquet'.*npz or tfrecord"),
    ({"push.min_auc": 1.5}, r"min_auc=1.5"),
    ({"train.strategy": "tpu"}, r"strategy='tpu'"),
])
def test_out_of_range_values_are_usage_errors(overrides, message):
    with pytest.raises(UsageError, match=message) as caught:
        with_overrides(PipelineConfig(), overrides)
    assert caught.value.exit_code == 2


def test_round_trip_through_dict():
    config = with_overrides(PipelineConfig(), {"train.hidden_layers": 3})
    assert from_dict(PipelineConfig, to_dict(config)) == config
