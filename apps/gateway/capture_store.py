"""Where captured rows live: a folder (``var/capture``) or an S3 prefix
(``s3://bucket/prefix``), in one layout either way,
``<root>/endpoint=<name>/date=<YYYY-MM-DD>/<file>.parquet`` (Hive
partitioning: DuckDB, pyarrow and Spark read the tree as one table), so the
gateway, the cloud-capture pull and whatever reads windows of traffic
(monitoring) agree on it through ``open_store(settings.GATEWAY_CAPTURE_ROOT)``.

A reader never sees half a file: a local file is written under a temporary
name and renamed; an S3 PutObject appears whole or not at all.

S3 is reached with boto3's own credential chain (environment, profile,
instance role): the capture bucket belongs to the platform, not to a team's
connection. ``GATEWAY_CAPTURE_S3_ENDPOINT_URL`` points it elsewhere (the
stand-in, MinIO, a VPC endpoint); botocore retries throttled puts itself.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

S3_SCHEME = "s3://"
PARQUET_MAGIC = b"PAR1"
FOOTER_TAIL = 64 << 10  # a capture file's footer (one schema, a few row groups) fits in far less


def partition(endpoint: str, day: str) -> str:
    return f"endpoint={endpoint}/date={day}"


class CaptureStore(Protocol):
    uri: str

    def put(self, endpoint: str, day: str, name: str, table) -> None:
        """Write ``table`` (pyarrow) as ``name`` in the endpoint's day, replacing a file of that name."""
        ...

    def names(self, endpoint: str, day: str, prefix: str = "") -> list[str]:
        """The files of the endpoint's day whose names start with ``prefix``."""
        ...

    def read(self, endpoint: str, day: str, name: str, columns: list[str] | None = None):
        """One file as a pyarrow table (only ``columns`` when given)."""
        ...

    def listing(self, endpoint: str, day: str) -> list[tuple[str, float]]:
        """The files of the endpoint's day with the time each appeared (epoch seconds, the store's clock)."""
        ...

    def footer(self, endpoint: str, day: str, name: str):
        """One file's Parquet footer (pyarrow ``FileMetaData``), read without its rows."""
        ...


class LocalStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.uri = str(self.root)

    def put(self, endpoint: str, day: str, name: str, table) -> None:
        import pyarrow.parquet as pq

        folder = self.root / partition(endpoint, day)
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{name}.tmp"
        pq.write_table(table, temporary)
        temporary.replace(folder / name)

    def names(self, endpoint: str, day: str, prefix: str = "") -> list[str]:
        folder = self.root / partition(endpoint, day)
        return sorted(p.name for p in folder.glob(f"{prefix}*.parquet")) if folder.is_dir() else []

    def read(self, endpoint: str, day: str, name: str, columns: list[str] | None = None):
        import pyarrow.parquet as pq

        return pq.read_table(self.root / partition(endpoint, day) / name, columns=columns)

    def listing(self, endpoint: str, day: str) -> list[tuple[str, float]]:
        folder = self.root / partition(endpoint, day)
        if not folder.is_dir():
            return []
        with os.scandir(folder) as entries:  # names and times in one pass, no file opened
            return sorted((e.name, e.stat().st_mtime) for e in entries if e.name.endswith(".parquet") and e.is_file())

    def footer(self, endpoint: str, day: str, name: str):
        import pyarrow.parquet as pq

        return pq.read_metadata(self.root / partition(endpoint, day) / name)


class S3Store:
    def __init__(self, uri: str, *, endpoint_url: str | None = None, region: str | None = None):
        bucket, _, prefix = uri.removeprefix(S3_SCHEME).partition("/")
        if not bucket:
            raise ValueError(f"Not an S3 prefix: {uri!r} (s3://bucket/prefix).")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"{S3_SCHEME}{bucket}/{self.prefix}".rstrip("/")
        self.endpoint_url = endpoint_url or None
        self.region = region or None
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r}, endpoint_url={self.endpoint_url!r})"

    @property
    def client(self):
        # Made on first use (boto3 only imported where S3 is used); one client, shared
        # by threads (boto3 clients are thread-safe, their creation is not).
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                self._client = boto3.session.Session(region_name=self.region).client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    config=Config(retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=5),
                )
            return self._client

    def _key(self, endpoint: str, day: str, name: str = "") -> str:
        return "/".join(part for part in (self.prefix, partition(endpoint, day), name) if part)

    def put(self, endpoint: str, day: str, name: str, table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(endpoint, day, name),
            Body=sink.getvalue().to_pybytes(),
            ContentType="application/vnd.apache.parquet",
        )

    def names(self, endpoint: str, day: str, prefix: str = "") -> list[str]:
        folder = self._key(endpoint, day) + "/"
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder + prefix):
            found += [item["Key"][len(folder) :] for item in page.get("Contents", [])]
        return sorted(name for name in found if name.endswith(".parquet") and "/" not in name)

    def read(self, endpoint: str, day: str, name: str, columns: list[str] | None = None):
        import pyarrow as pa
        import pyarrow.parquet as pq

        body = self.client.get_object(Bucket=self.bucket, Key=self._key(endpoint, day, name))["Body"].read()
        return pq.read_table(pa.BufferReader(body), columns=columns)

    def listing(self, endpoint: str, day: str) -> list[tuple[str, float]]:
        folder = self._key(endpoint, day) + "/"
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
            for item in page.get("Contents", []):
                name = item["Key"][len(folder) :]
                if name.endswith(".parquet") and "/" not in name:
                    found.append((name, item["LastModified"].timestamp()))
        return sorted(found)

    def footer(self, endpoint: str, day: str, name: str):
        """The file's tail only (a ranged GET): the footer is the last ``length + 8`` bytes."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        key = self._key(endpoint, day, name)
        tail = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=-{FOOTER_TAIL}")["Body"].read()
        length = int.from_bytes(tail[-8:-4], "little")
        if length + 8 > len(tail):  # a footer longer than the first guess: read exactly it
            tail = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=-{length + 8}")["Body"].read()
        # pyarrow reads a footer from the end of a buffer; the leading magic makes it a whole "file"
        return pq.read_metadata(pa.BufferReader(PARQUET_MAGIC + tail[-(length + 8) :]))


def open_store(root: str | Path, *, endpoint_url: str | None = None, region: str | None = None) -> CaptureStore:
    """The store ``root`` names: an ``s3://`` prefix, or a folder."""
    if str(root).startswith(S3_SCHEME):
        return S3Store(str(root), endpoint_url=endpoint_url, region=region)
    return LocalStore(root)


def store_from_settings() -> CaptureStore:
    from django.conf import settings

    return open_store(
        settings.GATEWAY_CAPTURE_ROOT,
        endpoint_url=settings.GATEWAY_CAPTURE_S3_ENDPOINT_URL,
        region=settings.GATEWAY_CAPTURE_S3_REGION,
    )
