"""Keep Beam's LOOPBACK worker pool on loopback: the function lives in components/beam/jobs.py (the
pipeline's Beam jobs call it); this module keeps the name flink/smoke.py and flink/README.md use.

With --environment_type=LOOPBACK the Python client serves the SDK workers that Flink's TaskManager
connects to.  Beam 2.61 opens that gRPC server on '[::]:port', i.e. on every interface, and offers
no option to change it; the rule here is that nothing listens beyond 127.0.0.1/::1.  Calling
bind_worker_pool_to_loopback() before running a pipeline makes that one server bind 'localhost'.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
