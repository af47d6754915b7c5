"""Another fsspec protocol, once given storage options: fsspec's in-memory filesystem stands in for
any store without its own listing code (a synchronous filesystem, read in threads)."""

from __future__ import annotations

import fsspec
import pytest

from bqml_magic import Engine
from bqml_magic.errors import StorageError


@pytest.fixture
def memory_bucket(sample_set):
    fs = fsspec.filesystem("memory")
    for name in ("china.jpg", "coffee.png"):
        fs.pipe(f"/shelf/photos/{name}", (sample_set.bucket / "photos" / name).read_bytes())
    yield fs
    fs.rm("/shelf", recursive=True)


def test_a_protocol_with_options_is_listed_and_read(memory_bucket, sample_set, tmp_path):
    engine = Engine(storage_options={"memory": {}}, cache_dir=tmp_path)
    local = Engine(buckets={"b": sample_set.bucket})
    sql = """CREATE SCHEMA d; CREATE EXTERNAL TABLE d.t OPTIONS(object_metadata = 'SIMPLE', uris = [{}])"""
    engine.query(sql.format("'memory://shelf/photos/*'"))
    local.query(sql.format("'gs://b/photos/china.jpg', 'gs://b/photos/coffee.png'"))
    query = "SELECT uri, size, md5_hash, ML.DECODE_IMAGE(data).dimensions AS dims FROM d.t ORDER BY uri"
    ours, theirs = engine.query(query), local.query(query)
    assert ours.uri.tolist() == ["memory://shelf/photos/china.jpg", "memory://shelf/photos/coffee.png"]
    assert ours["size"].tolist() == theirs["size"].tolist() and ours.md5_hash.tolist() == theirs.md5_hash.tolist()
    assert [list(d) for d in ours.dims] == [list(d) for d in theirs.dims]
    engine.close()
    local.close()


def test_without_options_it_is_refused(memory_bucket, tmp_path):
    engine = Engine(cache_dir=tmp_path)
    engine.query("CREATE SCHEMA d")
    with pytest.raises(StorageError, match=r"memory:// URIs are not read here.*storage_options=\{'memory'"):
        engine.query("CREATE EXTERNAL TABLE d.t OPTIONS(object_metadata = 'SIMPLE', uris = ['memory://shelf/*'])")
    engine.close()
