"""orchestration/paths.py and signals.py: paths as another machine sees them; SIGTERM as an error."""
import os
import signal

import pytest

from components.orchestration import paths, signals


def test_paths_are_rewritten_whole_never_inside_a_longer_name():
    pairs = [("/a/run", "/artifacts/run")]
    assert paths.replace_paths({"x": ["/a/run/split", "/a/run-2/split"]}, pairs) == \
        {"x": ["/artifacts/run/split", "/a/run-2/split"]}
    assert paths.replace_paths(3, pairs) == 3


def test_sigterm_raises_terminated_inside_and_is_restored_after():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(signals.Terminated, match="stopping"):
        with signals.sigterm_raises("stopping"):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == previous


def test_one_path_map_serves_containers_and_pods(tmp_path):
    refused = []
    mapped = paths.PathMap(lambda table, host, name: refused.append(name) or paths.ARTIFACTS / "x",
                           targets=(paths.ARTIFACTS,))
    mapped.mount(tmp_path / "runs", paths.ARTIFACTS / "runs")
    assert mapped.to_target(tmp_path / "runs" / "r1" / "split", "split") == "/artifacts/runs/r1/split"
    assert mapped.to_target(paths.ARTIFACTS / "data" / "a.csv", "data") == "/artifacts/data/a.csv"
    assert mapped.to_target(tmp_path / "elsewhere.csv", "data") == "/artifacts/x" and refused == ["data"]
    assert mapped.to_host("see /artifacts/runs/r1/split/x") == f"see {tmp_path}/runs/r1/split/x"
