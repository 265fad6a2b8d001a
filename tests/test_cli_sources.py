"""What a MANUAL/SOURCE argument names, and the manual name it gets."""

from __future__ import annotations

import pytest

from utcp_http_stream.cli.sources import manual_name, name_from_url, source_url


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("https://api.example.com/utcp", "https://api.example.com/utcp"),
        ("127.0.0.1:8765/utcp", "http://127.0.0.1:8765/utcp"),
        ("localhost:8765", "http://localhost:8765"),
        ("localhost/utcp", "http://localhost/utcp"),
        ("[::1]:8765/utcp", "http://[::1]:8765/utcp"),
        ("api.example.com/utcp", "https://api.example.com/utcp"),
        ("10.0.0.5:8080/utcp", "https://10.0.0.5:8080/utcp"),
        ("manuals/demo.json", None),  # a file the user meant, even when missing
        ("missing.json", None),
        ("demo", None),
        ("nohost/utcp", None),
    ],
)
def test_source_url(text, url):
    assert source_url(text) == url


def test_an_existing_file_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "localhost:1").write_text("{}")
    assert source_url("localhost:1") is None


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://api.openai.com/v1/utcp", "openai"),
        ("https://tools.example.com/utcp", "tools"),
        ("https://www.example.co.uk/utcp", "example"),
        ("http://127.0.0.1:8765/utcp", "local8765"),
        ("http://localhost/utcp", "local"),
        ("http://[::1]:9/utcp", "local9"),
        ("https://my-api.example.com/utcp", "my_api"),
    ],
)
def test_name_from_url(url, name):
    assert name_from_url(url) == name


def test_manual_name_says_where_it_came_from():
    assert manual_name("my api").value == "my_api"
    assert "given with --name" in manual_name("x").explain()
    from_template = manual_name(None, template_name="demo", path="manuals/other.json")
    assert from_template.value == "demo" and "name field" in from_template.explain()
    from_file = manual_name(None, path="manuals/openai_chat.json")
    assert from_file.value == "openai_chat"
    assert from_file.explain() == (
        "the manual name 'openai_chat' comes from the file name manuals/openai_chat.json, as a UTCP manual has "
        "no name field; pass --name to choose another"
    )
    from_url = manual_name(None, url="http://127.0.0.1:8765/utcp")
    assert from_url.value == "local8765" and "the URL's host 127.0.0.1:8765" in from_url.explain()
