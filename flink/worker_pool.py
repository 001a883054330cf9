"""A Beam SDK worker pool in separate processes, on loopback, for --environment_type=EXTERNAL.

With LOOPBACK every SDK worker is a thread of the submitting process, so the Python work of a pipeline
(parsing, TFDV, encoding) shares one GIL whatever --parallelism says. This pool starts one
`SdkHarness` process per worker Flink asks for (--sdk_worker_parallelism per TaskManager):

    .venv/bin/python flink/worker_pool.py 50000 &
    ... --beam-pipeline-args="--runner=FlinkRunner --flink_master=localhost:8081 --environment_type=EXTERNAL
        --environment_config=localhost:50000 --sdk_worker_parallelism=2 --parallelism=2"

Beam's pool starts its workers as `python -c ...` from PATH, and they import the pipeline's code
(components/): this script puts its own interpreter first on PATH and the repository on PYTHONPATH.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
os.environ["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")

from apache_beam.runners.worker import worker_pool_main  # noqa: E402

from components.beam.jobs import bind_worker_pool_to_loopback  # noqa: E402

if __name__ == "__main__":
    bind_worker_pool_to_loopback()
    worker_pool_main.main(["--service_port", sys.argv[1] if len(sys.argv) > 1 else "50000"])
