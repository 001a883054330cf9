"""kubernetes.watch's reading of Job and pod status (the API server's JSON as it is) and of pod logs.

Objects here are the JSON a real API server returns for these states, written out: a real cluster cannot
produce an OOM kill or a two-pod failure race on demand in milliseconds (test_kubernetes_cluster.py runs the
real thing).
"""
from __future__ import annotations

import logging

import pytest

from components.core import protocol
from components.runners.kubernetes import watch


def job(*conditions) -> dict:
    return {"kind": "Job", "status": {"conditions": [dict(type=t, status=s, reason=r, message=m)
                                                      for t, s, r, m in conditions]}}


def pod(name, phase, code=None, reason="Error", finished="2026-11-27T10:00:00Z", disruption=None) -> dict:
    status = {"phase": phase}
    if code is not None:
        status["containerStatuses"] = [{"state": {"terminated": {"exitCode": code, "reason": reason,
                                                                 "finishedAt": finished}}}]
    if disruption:
        status["conditions"] = [{"type": "DisruptionTarget", "status": "True", "reason": disruption}]
    return {"metadata": {"name": name}, "status": status}


def test_finished_reads_complete_failed_and_running_jobs_and_tfjobs():
    assert watch.finished(job(("Complete", "True", "", ""))) == (True, True, "", "")
    assert watch.finished(job(("Failed", "True", "BackoffLimitExceeded", "3 failures"))) == \
        (True, False, "BackoffLimitExceeded", "3 failures")
    assert watch.finished(job(("Failed", "False", "", ""))) == (False, False, "", "")
    assert watch.finished({"kind": "Job", "status": {}}) == (False, False, "", "")
    tfjob = {"kind": "TFJob", "status": {"conditions": [{"type": "Succeeded", "status": "True"}]}}
    assert watch.finished(tfjob)[:2] == (True, True)


def test_failure_details_pick_the_latest_real_failure_not_a_disruption():
    pods = [pod("a", "Failed", 75, finished="2026-11-27T10:00:00Z"),
            pod("b", "Failed", 4, finished="2026-11-27T10:05:00Z"),
            pod("c", "Failed", 143, finished="2026-11-27T10:09:00Z", disruption="EvictionByEvictionAPI"),
            pod("d", "Running")]
    assert watch.failure_details(pods) == ("b", 4, False)
    assert watch.failure_details([pod("e", "Failed", 137, reason="OOMKilled")]) == ("e", 137, True)
    assert watch.failure_details([pod("f", "Succeeded", 0)]) == (None, None, False)
    assert watch.disrupted(pods[2]) == "EvictionByEvictionAPI" and watch.disrupted(pods[0]) is None


class Follower:
    def __init__(self, *lines):
        self.lines = list(lines)


def test_the_deciding_record_comes_from_the_pod_that_decided():
    chief = Follower("epoch 1", protocol.Record(0, {"epochs_run": 3}).line())
    other = Follower("epoch 1")  # a non-chief worker prints no record on success
    assert watch.deciding_record(True, None, None, {"w0": chief, "w1": other}) == protocol.Record(0, {"epochs_run": 3})
    failed = Follower("ERROR x", protocol.Record(5, None, "loss is NaN\nlower the learning rate").line())
    aborted = Follower(protocol.Record(75, None, "Collective ops is aborted").line())
    record = watch.deciding_record(False, "w1", 5, {"w0": aborted, "w1": failed})
    assert record == protocol.Record(5, None, "loss is NaN\nlower the learning rate")  # message and code of one pod
    killed = watch.deciding_record(False, "w1", 137, {"w1": Follower("Killed")})
    assert killed.exit_code == 75 and killed.error.startswith("Killed (killed by signal 9")
    assert watch.deciding_record(False, None, None, {}) is None


def test_a_followed_log_is_echoed_with_its_prefix_but_not_its_record_line(caplog):
    follower = watch.LogFollower.__new__(watch.LogFollower)
    follower.prefix, follower.lines = "train/1", []
    follower.stopped = __import__("threading").Event()
    with caplog.at_level(logging.INFO, logger="pipeline.k8s"):
        follower.emit("epoch 1 loss 0.4")
        follower.emit(protocol.Record(0, {"a": 1}).line())
        follower.stopped.set()
        follower.emit("after cancel")
    assert "[train/1] epoch 1 loss 0.4" in caplog.text and protocol.RECORD_MARKER not in caplog.text
    assert "after cancel" not in caplog.text and len(follower.lines) == 2


def test_a_pod_that_cannot_start_is_reported_once_and_fails_the_step_after_the_wait(caplog, monkeypatch):
    unschedulable = {"metadata": {"name": "p1"}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/1 nodes are available: 1 Insufficient cpu."}]}}
    no_image = {"metadata": {"name": "p2"}, "status": {"phase": "Pending", "containerStatuses": [
        {"image": "bankpipe-trainer:9", "state": {"waiting": {"reason": "ErrImageNeverPull",
                                                               "message": "image not present"}}}]}}
    starting = {"metadata": {"name": "p3"}, "status": {"phase": "Pending", "containerStatuses": [
        {"state": {"waiting": {"reason": "ContainerCreating"}}}]}}
    assert watch.pending_problem(unschedulable) == "cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu."
    assert watch.pending_problem(no_image) == "ErrImageNeverPull: image not present"
    assert watch.pending_problem(starting) is None and watch.pending_problem(pod("p4", "Running")) is None
    clock = [100.0]
    monkeypatch.setattr(watch.time, "monotonic", lambda: clock[0])
    pending = watch.PendingWatch("train", "bankpipe", timeout=30)
    with caplog.at_level(logging.WARNING, logger="pipeline.k8s"):
        for _ in range(3):
            pending.check(unschedulable)
            pending.check(starting)
    assert caplog.text.count("Insufficient cpu") == 1  # said once, not every poll
    clock[0] += 31
    with pytest.raises(watch.Stuck, match="bankpipe/p1 cannot be scheduled.*gave up after 30 s") as stuck:
        pending.check(unschedulable)
    assert stuck.value.exit_code == 75
