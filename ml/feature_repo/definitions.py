"""Feast definitions of project `pep`, built from feature_spec.json (the one versioned spec the TypeScript consumer
and serving read too): one entity per join key, one Parquet FileSource per entity (the offline log the consumer
writes, ``<offline dir>/<entity>/``), one FeatureView per window with its ttl. Every feature is Float64.

The offline folder comes from PEP_FEATURES_OFFLINE_DIR (set by ml/python/pep_ml/repo.py)."""
import json
import os
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Float64

SPEC = json.loads((Path(__file__).parent / "feature_spec.json").read_text())
OFFLINE_DIR = Path(os.environ.get("PEP_FEATURES_OFFLINE_DIR", Path(__file__).parent / "offline"))

ENTITIES = {
    e["name"]: Entity(
        name=e["name"], join_keys=[e["join_key"]], value_type=ValueType.STRING, description=e["description"]
    )
    for e in SPEC["entities"]
}

SOURCES = {
    e["name"]: FileSource(
        name=f"{e['name']}_features_log",
        path=str(OFFLINE_DIR / e["name"]),
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
        description=f"feature values of {e['name']} logged with their event time by the streaming consumer",
    )
    for e in SPEC["entities"]
}

VIEWS = [
    FeatureView(
        name=v["name"],
        entities=[ENTITIES[v["entity"]]],
        ttl=timedelta(seconds=v["ttl_s"]),
        schema=[Field(name=f["name"], dtype=Float64) for f in v["features"]],
        source=SOURCES[v["entity"]],
        online=True,
        tags={"spec_version": SPEC["version"]},
    )
    for v in SPEC["views"]
]

OBJECTS = [*ENTITIES.values(), *VIEWS]
