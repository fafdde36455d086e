"""Input adapters: one per source, each turning files into `RecordDraft`s and `Reject`s.

The pipeline picks an adapter with `get_adapter(source, mapping)`; `load_mapping` reads the
optional TOML field mapping and `field=Column` overrides (see docs/formats.md).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

from voc.errors import ConfigError
from voc.ingest.base import (
    Adapter,
    DecodedText,
    Mapping,
    SourceMapping,
    parse_datetime,
    read_text,
)
from voc.ingest.calls import CallAdapter
from voc.ingest.interviews import InterviewAdapter
from voc.ingest.reviews import ReviewAdapter
from voc.ingest.tickets import TicketAdapter

__all__ = [
    "Adapter",
    "DecodedText",
    "Mapping",
    "SourceMapping",
    "get_adapter",
    "load_mapping",
    "parse_datetime",
    "read_text",
]

ADAPTERS: dict[str, type[TicketAdapter | CallAdapter | ReviewAdapter | InterviewAdapter]] = {
    "ticket": TicketAdapter,
    "call": CallAdapter,
    "review": ReviewAdapter,
    "interview": InterviewAdapter,
}
_ALIASES = {f"{name}s": name for name in ADAPTERS}


def _source_name(source: str) -> str | None:
    key = source.strip().casefold()
    key = _ALIASES.get(key, key)
    return key if key in ADAPTERS else None


def get_adapter(
    source: str, mapping: Mapping | None = None, *, default_tz: tzinfo = UTC
) -> Adapter:
    """The adapter for `source` with the mapping's section for it and any unscoped overrides.

    Raises ConfigError for an unknown source, or when an override names a field this source
    does not have (e.g. `--map rating=Stars` while ingesting tickets).
    """
    name = _source_name(source)
    if name is None:
        raise ConfigError(
            f"unknown source {source!r}; valid sources are: {', '.join(ADAPTERS)}.",
            source=source,
        )
    adapter_class = ADAPTERS[name]
    mapping = mapping or Mapping()
    section = mapping.sources.get(name, SourceMapping())
    unscoped = mapping.unscoped
    for field_name in [*unscoped.columns, *unscoped.labels]:
        _check_field(name, field_name, "--map")
    return adapter_class(section.merged(unscoped), default_tz=default_tz)


def load_mapping(path: Path | None, overrides: Sequence[str] = ()) -> Mapping:
    """Read a TOML mapping file and/or `field=Column` overrides into a Mapping.

    Overrides may name a source (`ticket.subject=Title`), a metadata column
    (`metadata.region=Region`) or a label list (`call.agent_labels=Rep,专员`); without a source
    they apply to whichever source is ingested. Overrides win over the file.
    """
    sections: dict[str, SourceMapping] = {}
    if path is not None:
        sections = _read_mapping_file(path)
    unscoped = SourceMapping()
    for override in overrides:
        source, single = _parse_override(override)
        if source is None:
            unscoped = unscoped.merged(single)
        else:
            sections[source] = sections.get(source, SourceMapping()).merged(single)
    return Mapping(sources=sections, unscoped=unscoped)


def _read_mapping_file(path: Path) -> dict[str, SourceMapping]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise ConfigError(f"mapping file {path} does not exist.", path=str(path)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"mapping file {path} cannot be read as UTF-8 text: {exc}.", path=str(path)
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"mapping file {path} is not valid TOML: {exc}.", path=str(path)) from exc
    sections: dict[str, SourceMapping] = {}
    for key, table in raw.items():
        source = _source_name(key)
        where = f"mapping file {path}, section [{key}]"
        if source is None:
            raise ConfigError(
                f"{where}: unknown source; sections must be one of: {', '.join(ADAPTERS)}.",
                path=str(path),
            )
        if not isinstance(table, dict):
            raise ConfigError(f'{where} must be a table of field = "Column" lines.')
        sections[source] = _section(source, table, where)
    return sections


def _section(source: str, table: dict[str, Any], where: str) -> SourceMapping:
    adapter_class = ADAPTERS[source]
    columns: dict[str, tuple[str, ...]] = {}
    metadata: dict[str, str] = {}
    labels: dict[str, tuple[str, ...]] = {}
    for field_name, value in table.items():
        if field_name == "metadata":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(f'{where}: [{source}.metadata] must hold name = "Column" lines.')
            metadata.update(value)
            continue
        _check_field(source, field_name, where)
        names = _string_list(value, f"{where}, {field_name}")
        if field_name in adapter_class.label_fields:
            labels[field_name] = names
        else:
            columns[field_name] = names
    return SourceMapping(columns=columns, metadata=metadata, labels=labels)


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ConfigError(f'{where} must be a column name ("Body") or a list of names.')


def _check_field(source: str, field_name: str, where: str) -> None:
    adapter_class = ADAPTERS[source]
    known = [*adapter_class.fields, *adapter_class.label_fields]
    if field_name not in known:
        raise ConfigError(
            f"{where}: {field_name!r} is not a {source} field; {source} fields are: "
            f"{', '.join(known)}, and metadata.NAME for extra columns.",
            field=field_name,
        )


def _parse_override(override: str) -> tuple[str | None, SourceMapping]:
    """`[source.]field=Column`, `[source.]metadata.NAME=Column` or `[source.]LABELS=a,b`."""
    target, sep, column = override.partition("=")
    target, column = target.strip(), column.strip()
    where = f"--map {override!r}"
    if not sep or not target or not column:
        raise ConfigError(f"{where} must look like field=Column, e.g. subject=Title.")
    parts = target.split(".")
    source = _source_name(parts[0]) if len(parts) > 1 else None
    if source is not None:
        parts = parts[1:]
    if parts[0] == "metadata" and len(parts) == 2 and parts[1]:
        return source, SourceMapping(metadata={parts[1]: column})
    if len(parts) != 1:
        raise ConfigError(
            f"{where}: {target!r} is not a field; use field, source.field or metadata.NAME "
            f"with a source among {', '.join(ADAPTERS)}."
        )
    field_name = parts[0]
    label_fields = {f for cls in ADAPTERS.values() for f in cls.label_fields}
    all_fields = {f for cls in ADAPTERS.values() for f in cls.fields} | label_fields
    if source is not None:
        _check_field(source, field_name, where)
    elif field_name not in all_fields:
        raise ConfigError(
            f"{where}: {field_name!r} is not a field of any source; fields are: "
            f"{', '.join(sorted(all_fields))}.",
            field=field_name,
        )
    if field_name in label_fields:
        labels = tuple(v.strip() for v in column.split(",") if v.strip())
        return source, SourceMapping(labels={field_name: labels})
    return source, SourceMapping(columns={field_name: (column,)})
