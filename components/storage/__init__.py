"""Every file format the pipeline reads or writes, in one place, and atomic writes.

A write goes to a hidden sibling first and is renamed into place, so a killed process never leaves a
half-written artifact under the final name. Heavy libraries (TensorFlow, protobuf schemas) are imported
inside the functions that need them, so that light components and tests start fast.
"""
from components.core.digests import file_sha256
from components.storage.files import (
                                 atomic_dir,
                                 atomic_file,
                                 read_json,
                                 remove_stale_temporaries,
                                 write_bytes,
                                 write_json,
                                 write_text,
)
from components.storage.protos import load_schema, load_statistics, save_proto_binary, save_proto_text
from components.storage.splits import (
                                 TFRecordShards,
                                 load_npz,
                                 save_npz,
                                 tfrecord_files,
                                 tfrecord_shard_name,
                                 write_tfrecord_shards,
)
from components.storage.tables import (
                                 DELIMITERS,
                                 not_utf8_error,
                                 read_csv,
                                 read_csv_chunks,
                                 read_header,
                                 sniff_delimiter,
)

__all__ = ["atomic_dir", "atomic_file", "file_sha256", "read_json", "remove_stale_temporaries", "write_bytes",
           "write_json", "write_text", "load_schema", "load_statistics", "save_proto_binary", "save_proto_text",
           "TFRecordShards", "load_npz", "save_npz", "tfrecord_files", "tfrecord_shard_name",
           "write_tfrecord_shards", "DELIMITERS", "not_utf8_error", "read_csv", "read_csv_chunks", "read_header",
           "sniff_delimiter"]
