"""Every record of every stream validates against the JSON Schema the
stream declares (discover / ``src.streams()``), custom user fields from
``users/getFields`` included: Iterable names an array field by its
elements' type (``devices`` is "object", a list of strings is "string"),
so such fields are declared as the type *or an array of it*. A strict
destination (a Singer target validating records) loads what we emit."""

from __future__ import annotations

from typing import Any

import jsonschema
import pyarrow as pa
from conftest import Sim, source


def _validate(stream: str, schema: dict[str, Any], records: list[dict[str, Any]]) -> None:
    validator = jsonschema.Draft7Validator(schema)
    for r in records:
        errors = sorted(validator.iter_errors(r), key=lambda e: list(e.path))
        assert not errors, f"{stream}: {errors[0].message} at {list(errors[0].path)} in {r}"


def test_every_record_validates_against_its_declared_schema(sim: Sim) -> None:
    src = source(sim)
    users = list(src.read("users", incremental=False))
    assert users
    email = users[0]["email"]
    by_user = source(sim, email=email)
    checked = 0
    for info in src.streams(fetch_user_fields=True):
        reader = (by_user if info.requires_user_filter else src).read(info.name, incremental=False)
        records = list(reader)
        _validate(info.name, info.json_schema, records)
        checked += len(records)
    assert checked > 1000, checked


def test_array_custom_fields_are_declared_as_arrays(sim: Sim) -> None:
    src = source(sim)
    users_info = next(s for s in src.streams(fetch_user_fields=True) if s.name == "users")
    schema = users_info.json_schema["properties"]
    assert schema["devices"]["type"] == ["null", "object", "array"]
    assert schema["favoriteCategories"]["type"] == ["null", "string", "array"]
    # Numbers stay typed; the project's own array fields are arrays.
    assert schema["loyaltyPoints"]["type"] == ["null", "integer"]
    assert schema["emailListIds"]["type"] == ["null", "array"]
    users = list(src.read("users", incremental=False))
    with_devices = [u for u in users if u.get("devices")]
    assert with_devices and all(isinstance(u["devices"], list) for u in with_devices)
    assert all(isinstance(u["favoriteCategories"], list) for u in users)
    # Arrow: text stays text, an array of text is JSON text (not a null).
    table = src.read("users", incremental=False).to_arrow()
    assert table.schema.field("favoriteColor").type == pa.string()
    colors = table.column("favoriteColor").to_pylist()
    assert colors == [u.get("favoriteColor") for u in users]
    cats = table.column("favoriteCategories").to_pylist()
    assert all(c is not None and c.startswith("[") for c in cats), cats[:3]
