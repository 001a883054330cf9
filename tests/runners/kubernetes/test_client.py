"""runners/kubernetes/client.py: no usable kubeconfig is a usage error that says which flag to pass."""
import pytest

import pipeline
from components.core.errors import UsageError
from components.runners.kubernetes import client, runner


def test_a_missing_kubeconfig_names_the_flags(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    args = pipeline.build_parser().parse_args(["--runner=kubernetes", "--kubeconfig", str(tmp_path / "none")])
    with pytest.raises(UsageError, match="--kubeconfig FILE"):
        client.api_client(runner.options_from(args))
