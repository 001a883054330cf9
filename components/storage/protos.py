"""TFDV protos: schemas in text format (people review them), statistics in binary."""
from __future__ import annotations

import os
from pathlib import Path

from components.core.errors import DataError
from components.storage.files import write_bytes, write_text


def load_schema(path: str | os.PathLike):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"schema file {path} does not exist: pass an existing .pbtxt with --schema, or "
                        f"omit --schema to infer one from the data.") from None
    except IsADirectoryError:
        raise DataError(f"schema file {path} is a directory: pass the schema.pbtxt file inside it with --schema, "
                        f"or omit --schema to infer one from the data.") from None
    except UnicodeDecodeError:
        raise DataError(f"schema file {path} is not text (a binary file?): pass a TFDV schema in text format "
                        f"(.pbtxt, as validate writes it).") from None
    except OSError as exc:
        raise DataError(f"schema file {path} cannot be read ({exc.strerror or exc}): pass a readable .pbtxt "
                        f"with --schema.") from None
    try:
        return text_format.Parse(text, schema_pb2.Schema())
    except text_format.ParseError as exc:
        raise DataError(f"schema file {path} is not a valid TFDV schema: {exc}.") from None


def save_proto_text(path: str | os.PathLike, message) -> None:
    from google.protobuf import text_format

    write_text(path, text_format.MessageToString(message))


def save_proto_binary(path: str | os.PathLike, message) -> None:
    write_bytes(path, message.SerializeToString())


def load_statistics(path: str | os.PathLike):
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString(Path(path).read_bytes())
    return stats
