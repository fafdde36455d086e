"""Choosing an adapter and reading field mappings: TOML files and `field=Column` overrides."""

from __future__ import annotations

import pytest

from voc.errors import ConfigError
from voc.ingest import Mapping, SourceMapping, get_adapter, load_mapping


def test_mapping_file_is_read_per_source(data_dir):
    mapping = load_mapping(data_dir / "mapping.toml")

    assert mapping == Mapping(
        sources={
            "ticket": SourceMapping(
                columns={
                    "id": ("Ticket ID",),
                    "subject": ("Title",),
                    "description": ("Body",),
                    "created_at": ("Created (UTC)",),
                    "tags": ("Labels",),
                },
                metadata={"region": "Region"},
            ),
            "call": SourceMapping(labels={"agent_labels": ("专员",), "customer_labels": ("会员",)}),
        }
    )


def test_overrides_win_over_the_file_and_may_name_a_source(data_dir):
    mapping = load_mapping(
        data_dir / "mapping.toml",
        ["ticket.subject=Summary", "text=Review", "metadata.store=Store", "agent_labels=Rep, 专员"],
    )

    assert mapping.sources["ticket"].columns["subject"] == ("Summary",)
    assert mapping.sources["ticket"].columns["description"] == ("Body",)
    assert mapping.unscoped == SourceMapping(
        columns={"text": ("Review",)},
        metadata={"store": "Store"},
        labels={"agent_labels": ("Rep", "专员")},
    )


def test_get_adapter_accepts_singular_and_plural_sources():
    assert [get_adapter(s).source for s in ("ticket", "Calls", "reviews", "interview")] == [
        "ticket",
        "call",
        "review",
        "interview",
    ]


@pytest.mark.parametrize("source", ["survey", "emails"])
def test_unknown_source_lists_the_valid_ones(source):
    with pytest.raises(ConfigError) as caught:
        get_adapter(source)

    assert caught.value.message == (
        f"unknown source {source!r}; valid sources are: ticket, call, review, interview."
    )


def test_unscoped_override_for_another_source_is_refused_by_get_adapter():
    mapping = load_mapping(None, ["rating=Stars"])

    assert get_adapter("review", mapping).source == "review"
    with pytest.raises(ConfigError) as caught:
        get_adapter("ticket", mapping)
    assert caught.value.message == (
        "--map: 'rating' is not a ticket field; ticket fields are: id, subject, description, "
        "comments, status, tags, customer_id, product, channel, priority, created_at, and "
        "metadata.NAME for extra columns."
    )


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[ticket\nid = 1", "is not valid TOML: Expected ']' at the end of a table declaration"),
        ('[emails]\nid = "x"\n', "section [emails]: unknown source; sections must be one of: "),
        (
            '[ticket]\nbody = "Body"\n',
            "section [ticket]: 'body' is not a ticket field; ticket fields are: id, subject, ",
        ),
        ("[review]\ntext = 3\n", 'section [review], text must be a column name ("Body") or a '),
        ('[call.metadata]\nregion = ["a"]\n', '[call.metadata] must hold name = "Column" lines.'),
    ],
)
def test_bad_mapping_files_stop_with_a_clear_message(tmp_path, toml, message):
    path = tmp_path / "mapping.toml"
    path.write_text(toml, "utf-8")

    with pytest.raises(ConfigError) as caught:
        load_mapping(path)

    assert message in caught.value.message


def test_missing_mapping_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_mapping(tmp_path / "nope.toml")

    assert caught.value.message == f"mapping file {tmp_path / 'nope.toml'} does not exist."


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("subject", "--map 'subject' must look like field=Column, e.g. subject=Title."),
        ("=Title", "--map '=Title' must look like field=Column, e.g. subject=Title."),
        (
            "headline=Title",
            "--map 'headline=Title': 'headline' is not a field of any source; fields are: ",
        ),
        ("ticket.rating=Stars", "--map 'ticket.rating=Stars': 'rating' is not a ticket field"),
        ("a.b.c=Title", "--map 'a.b.c=Title': 'a.b.c' is not a field; use field, source.field"),
    ],
)
def test_bad_overrides_stop_with_a_clear_message(override, message):
    with pytest.raises(ConfigError) as caught:
        load_mapping(None, [override])

    assert caught.value.message.startswith(message)
