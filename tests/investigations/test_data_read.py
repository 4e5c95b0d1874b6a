"""What a run read (`DataRead`): parts merge into one record, and the record stored in a flow
cache entry comes back as it was written."""

from __future__ import annotations

from investigations.runs.engines.base import DataRead


def _part(index: int, objects: list[str], size: int) -> DataRead:
    return DataRead(
        source="s3",
        details={
            "account": "123456789012",
            "flow_log": "fl-1",
            "instance": "web",
            "role_session": "portal-analyst",
            "bytes": size,
            "objects_count": len(objects),
            "objects": [{"key": key} for key in objects],
            "shard": [index, 2],
        },
    )


def test_parts_add_up_to_one_record_that_keeps_each_part() -> None:
    first, second = _part(0, ["a.gz", "c.gz"], 300), _part(1, ["b.gz"], 200)
    second.details["throttle_retries"] = 2  # a figure only one part has
    merged = DataRead.merge([first, second])
    data = merged.to_dict()
    assert data["source"] == "s3" and data["account"] == "123456789012"
    assert (data["bytes"], data["objects_count"], data["throttle_retries"]) == (500, 3, 2)
    assert [item["key"] for item in data["objects"]] == ["a.gz", "c.gz", "b.gz"]
    assert "shard" not in data
    assert [part["shard"] for part in data["parts"]] == [[0, 2], [1, 2]]
    assert data["parts"][1]["throttle_retries"] == 2
    assert first.details["bytes"] == 300  # the parts' own records are left as they were


def test_the_stored_shape_reads_back_as_written() -> None:
    read = DataRead.merge([_part(0, ["a.gz"], 10), _part(1, ["b.gz"], 20)])
    read.cache = {"hit": False, "key": "ab12"}
    read.engine = {"engine": "local", "reason": "small window"}
    read.suppression_rules = [{"id": 1, "name": "scanner"}]
    read.window = ["2026-01-01T00:00:00+00:00", None]
    read.seen = ("2026-01-01T00:01:00+00:00", None)
    data = read.to_dict()
    assert list(data)[:2] == ["source", "account"]
    assert list(data)[-7:] == [
        "parts",
        "cache",
        "engine",
        "suppression_rules",
        "window",
        "first_seen",
        "last_seen",
    ]
    assert data["first_seen"] == "2026-01-01T00:01:00+00:00" and data["last_seen"] is None
    assert DataRead.from_dict(data) == read
    assert DataRead.from_dict(data).to_dict() == data


def test_an_upload_record_has_no_aws_or_load_keys_until_set() -> None:
    read = DataRead(source="file", details={"files": [{"name": "flows.log"}]})
    assert read.to_dict() == {"source": "file", "files": [{"name": "flows.log"}]}
    read.window = [None, None]
    assert read.to_dict() == {
        "source": "file",
        "files": [{"name": "flows.log"}],
        "window": [None, None],
    }
