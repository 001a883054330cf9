"""reports/tensorboard.py's trial values: the model's hyperparameters as users name them, and the data."""
from components.config.train import TrainConfig
from components.reports import tensorboard


def test_hparams_use_the_flat_keys_and_the_data_digest(tmp_path):
    values = tensorboard.hparam_values(TrainConfig.of(hidden_units=64, family="wide_deep"), 2, 200, "abc")
    assert values["hidden_units"] == 64 and values["family"] == "wide_deep" and values["global_batch"] == 200
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "part-0.npz").write_bytes(b"rows")
    digest = tensorboard.data_digest(tmp_path)
    assert len(digest) == 12 and digest == tensorboard.data_digest(tmp_path)
    assert tensorboard.data_digest(tmp_path / "none") == ""
