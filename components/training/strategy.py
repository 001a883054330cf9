"""Choosing the tf.distribute strategy from what the process sees: devices and TF_CONFIG.

The choice is a pure function (testable without devices); `make_strategy` builds it. The chief is the
only worker that writes the model, logs and history.
"""
from __future__ import annotations

import dataclasses
import logging

from components.core.errors import UsageError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Choice:
    name: str
    reason: str


def cluster_size(tf_config: dict | None) -> int:
    cluster = (tf_config or {}).get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def is_chief(tf_config: dict | None) -> bool:
    """The 'chief' task, or worker 0 when the cluster has no chief (Keras' convention)."""
    if cluster_size(tf_config) <= 1:
        return True
    task = tf_config.get("task", {})
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and \
        not tf_config["cluster"].get("chief")


def choose(requested: str, gpus: int, cpus: int, tf_config: dict | None) -> Choice:
    workers = cluster_size(tf_config)
    if requested != "auto":
        if requested == "multi_worker" and workers < 1:
            raise UsageError("strategy multi_worker needs TF_CONFIG naming the cluster's workers; "
                             "use --workers N with the local runner, or --strategy auto.")
        return Choice(requested, f"--strategy {requested} (devices: {gpus} GPU, {cpus} CPU; workers: "
                                 f"{max(workers, 1)})")
    if workers > 1:
        return Choice("multi_worker", f"TF_CONFIG names {workers} workers")
    if gpus > 1:
        return Choice("mirrored", f"{gpus} GPUs visible")
    if gpus == 1:
        return Choice("one_device", "one GPU visible")
    if cpus > 1:
        return Choice("mirrored", f"no GPU, {cpus} logical CPU devices")
    return Choice("one_device", "no GPU visible: training on the CPU")


def split_cpu(replicas: int) -> None:
    """Make `replicas` logical CPU devices, so multi-replica code runs without GPUs."""
    import tensorflow as tf

    if replicas <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:
        raise UsageError("cpu_replicas > 1 needs a fresh process (TensorFlow had already started): run the "
                         "train component alone.") from None


def make(choice: Choice):
    import tensorflow as tf

    if choice.name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if choice.name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    # One device: the default strategy, which places work on GPU:0 when there is one. OneDeviceStrategy
    # would do the same, but Keras' BackupAndRestore refuses it on TF 2.16.
    return tf.distribute.get_strategy()


def select(requested: str, tf_config: dict | None, cpu_replicas: int = 1):
    """Choose, log why, and build the strategy; call before any other TensorFlow work.

    Only physical devices are listed before the choice: listing logical ones would start the runtime,
    after which MultiWorkerMirroredStrategy can no longer configure its collectives.
    """
    import tensorflow as tf

    split_cpu(cpu_replicas)
    choice = choose(requested, len(tf.config.list_physical_devices("GPU")), cpu_replicas, tf_config)
    strategy = make(choice)
    log.info("strategy %s with %d replica(s): %s", choice.name, strategy.num_replicas_in_sync, choice.reason)
    return choice, strategy


def tf_config(hosts: list[str], index: int) -> dict:
    """TF_CONFIG of worker `index` among `hosts` (every worker lists them in the same order); worker 0 is the
    chief (no separate chief task), as Keras expects for MultiWorkerMirroredStrategy."""
    if not 0 <= index < len(hosts):
        raise ValueError(f"worker index {index} is outside 0..{len(hosts) - 1}")
    return {"cluster": {"worker": list(hosts)}, "task": {"type": "worker", "index": index}}
