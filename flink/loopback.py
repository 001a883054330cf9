"""Keep Beam's LOOPBACK worker pool on loopback.

With --environment_type=LOOPBACK the Python client serves the SDK workers that Flink's TaskManager
connects to.  Beam 2.61 opens that gRPC server on '[::]:port', i.e. on every interface, and offers
no option to change it; the rule here is that nothing listens beyond 127.0.0.1/::1.  Calling
bind_worker_pool_to_loopback() before running a pipeline makes that one server bind 'localhost'.
It touches only the grpc module as seen by apache_beam.runners.worker.worker_pool_main.
"""
import grpc
from apache_beam.runners.worker import worker_pool_main


class _LoopbackGrpc:
    def __getattr__(self, name):
        return getattr(grpc, name)

    @staticmethod
    def server(*args, **kwargs):
        server = grpc.server(*args, **kwargs)
        add_port = server.add_insecure_port
        server.add_insecure_port = lambda address: add_port(address.replace('[::]', 'localhost', 1))
        return server


def bind_worker_pool_to_loopback():
    worker_pool_main.grpc = _LoopbackGrpc()
