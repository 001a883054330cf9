"""Prove a Beam Python pipeline runs on the local Flink cluster (make flink-smoke).

  python flink/smoke.py wordcount [beam flags...]   count words of a text file, write the counts
  python flink/smoke.py fail      [beam flags...]   a DoFn raises: shows what the client sees
  python flink/smoke.py tfdv      [beam flags...]   TFDV statistics of data/bank.csv

With no flags it uses the cluster's flags (see FLINK_FLAGS below); pass --runner=DirectRunner to compare.
"""
import os
import sys
import tempfile
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import bind_worker_pool_to_loopback  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# The plain flags: Beam starts a job server per pipeline from the jar `make flink` put in its cache.
# Add --job_endpoint=localhost:8099 to use the warm job server `make flink` started instead.
FLINK_FLAGS = ['--runner=FlinkRunner', '--flink_master=localhost:8081', '--environment_type=LOOPBACK']


class Boom(beam.DoFn):
    def process(self, element):
        raise ValueError(f'boom on {element!r}')
        yield element


def wordcount(flags):
    work = tempfile.mkdtemp(prefix='flink-smoke-')
    src = os.path.join(work, 'in.txt')
    with open(src, 'w') as f:
        f.write('the quick brown fox\njumps over the lazy dog\nthe end\n')
    with beam.Pipeline(options=PipelineOptions(flags, job_name='bankpipe-smoke-wordcount')) as p:
        (p | beam.io.ReadFromText(src)
           | beam.FlatMap(str.split)
           | beam.combiners.Count.PerElement()
           | beam.MapTuple(lambda w, n: f'{w}\t{n}')
           | beam.io.WriteToText(os.path.join(work, 'counts'), shard_name_template=''))
    out = open(os.path.join(work, 'counts')).read()
    print(out)
    assert 'the\t3' in out.splitlines(), out


def fail(flags):
    with beam.Pipeline(options=PipelineOptions(flags, job_name='bankpipe-smoke-fail')) as p:
        p | beam.Create([1, 2, 3]) | beam.ParDo(Boom())


def tfdv(flags):
    import tensorflow_data_validation as tfdv
    stats = tfdv.generate_statistics_from_csv(
        os.path.join(HERE, '..', 'data', 'bank.csv'), pipeline_options=PipelineOptions(flags))
    ds = stats.datasets[0]
    print(f'{ds.num_examples} examples, {len(ds.features)} features')


if __name__ == '__main__':
    what, flags = sys.argv[1], sys.argv[2:] or FLINK_FLAGS
    bind_worker_pool_to_loopback()
    t0 = time.time()
    try:
        {'wordcount': wordcount, 'fail': fail, 'tfdv': tfdv}[what](flags)
    except Exception as e:  # show exactly what a caller would have to map to an exit code
        print(f'{what}: FAILED after {time.time() - t0:.1f}s: {type(e).__module__}.{type(e).__qualname__}: '
              f'{str(e)[:2000]}', file=sys.stderr)
        sys.exit(1)
    print(f'{what}: OK in {time.time() - t0:.1f}s')
