"""The example manuals in ``manuals/``: each loads through utcp's own
serializers into this plugin's template, follows the URL policy, and holds
no literal secret (credentials are always ``${VAR}`` placeholders)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from utcp.data.call_template import CallTemplateSerializer
from utcp.data.utcp_manual import UtcpManualSerializer
from utcp.plugins.plugin_loader import ensure_plugins_initialized

import utcp_http_stream
from utcp_http_stream.demo import DEFAULT_PORT
from utcp_http_stream.errors import InsecureUrlError
from utcp_http_stream.security import check_url
from utcp_http_stream.template import StreamableHttpCallTemplate

MANUALS = Path(__file__).resolve().parent.parent / "manuals"
FILES = sorted(MANUALS.glob("*.json"))
EXPECTED = {
    "demo.json",
    "openai_chat.json",
    "anthropic_messages.json",
    "ollama_generate.json",
    "large_download.json",
    "ndjson_export_oauth2.json",
}

#: Shapes of real credentials; none may appear in a manual.
SECRET_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_-]{16,}"),  # OpenAI / Anthropic keys
    re.compile(r"ghp_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"hf_[A-Za-z0-9]{20,}"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"xox[abpr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # a JWT
    re.compile(r"Bearer\s+(?!\$\{)[A-Za-z0-9._~+/-]{8,}"),
]
SECRET_FIELDS = {"api_key", "password", "client_secret", "client_id"}
SECRET_HEADERS = {"authorization", "x-api-key", "api-key", "cookie", "proxy-authorization"}
PLACEHOLDER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


@pytest.fixture(autouse=True, scope="module")
def _plugins():
    ensure_plugins_initialized()
    utcp_http_stream.register()


def _load(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _templates(document):
    if "tools" in document:
        return [tool["tool_call_template"] for tool in document["tools"]]
    return [document]


def test_every_documented_manual_is_there():
    assert EXPECTED <= {path.name for path in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_manual_loads_through_utcp_serializers(path):
    document = _load(path)
    if "tools" in document:
        assert document["utcp_version"] == "1.0.0" and isinstance(document["manual_version"], str)
        manual = UtcpManualSerializer().validate_dict(document)
        assert manual.tools
        templates = [tool.tool_call_template for tool in manual.tools]
        for tool in manual.tools:
            assert tool.description and tool.inputs.type == "object"
    else:
        templates = [CallTemplateSerializer().validate_dict(document)]
    for template in templates:
        assert isinstance(template, StreamableHttpCallTemplate)
        assert template.call_template_type == "streamable_http"
        # round trip through the registry's serializer
        again = CallTemplateSerializer().validate_dict(CallTemplateSerializer().to_dict(template))
        assert again == template


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_urls_follow_the_https_or_loopback_policy(path):
    for template in _templates(_load(path)):
        url = template["url"]
        if "${" in url.split("/", 3)[2]:
            assert url.startswith("https://"), url  # host from a variable: still https
            continue
        check_url(url.replace("{", "").replace("}", ""), what="url")
        token_url = (template.get("auth") or {}).get("token_url")
        if token_url and "${" not in token_url:
            check_url(token_url, what="token_url")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_literal_secrets(path):
    text = path.read_text(encoding="utf-8")
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(text), f"{path.name}: looks like a real credential: {pattern.pattern}"
    for template in _templates(_load(path)):
        auth = template.get("auth") or {}
        for field in SECRET_FIELDS & auth.keys():
            assert PLACEHOLDER.search(auth[field]), f"{path.name}: auth.{field} must be a ${{VAR}}"
        for name, value in (template.get("headers") or {}).items():
            if name.lower() in SECRET_HEADERS:
                assert PLACEHOLDER.search(value), f"{path.name}: header {name} must use a ${{VAR}}"


def test_the_secret_scan_catches_a_literal_key():
    leaked = '{"api_key": "Bearer sk-live0123456789abcdefXYZ"}'
    assert any(pattern.search(leaked) for pattern in SECRET_PATTERNS)
    assert not any(pattern.search('{"api_key": "Bearer ${OPENAI_API_KEY}"}') for pattern in SECRET_PATTERNS)


def test_demo_manual_points_at_the_serve_demo_default_port():
    template = _load(MANUALS / "demo.json")
    assert template["url"] == f"http://127.0.0.1:{DEFAULT_PORT}/utcp"
    assert template["name"] == "demo"


def test_llm_manuals_select_the_text_deltas():
    openai = _templates(_load(MANUALS / "openai_chat.json"))[0]
    assert openai["url"] == "https://api.openai.com/v1/chat/completions"
    assert (openai["stream_format"], openai["select"], openai["body_field"]) == (
        "sse",
        "/choices/0/delta/content",
        "body",
    )
    assert openai["auth"] == {
        "auth_type": "api_key",
        "api_key": "Bearer ${OPENAI_API_KEY}",
        "var_name": "Authorization",
        "location": "header",
    }
    anthropic = _templates(_load(MANUALS / "anthropic_messages.json"))[0]
    assert anthropic["sse_event_types"] == ["content_block_delta"] and anthropic["select"] == "/delta/text"
    assert anthropic["auth"]["api_key"] == "${ANTHROPIC_API_KEY}"
    assert anthropic["auth"]["var_name"] == "x-api-key"
    assert "anthropic-version" in anthropic["headers"]
    ollama = _templates(_load(MANUALS / "ollama_generate.json"))[0]
    assert ollama["url"] == "http://localhost:11434/api/generate"
    assert (ollama["stream_format"], ollama["select"]) == ("ndjson", "/response")


def test_download_and_export_manuals():
    for template in _templates(_load(MANUALS / "large_download.json")):
        assert template["stream_format"] == "bytes" and template["chunk_size"] == 65536
        assert template["timeout"] >= 600_000 and template["idle_timeout"]
    export = _templates(_load(MANUALS / "ndjson_export_oauth2.json"))[0]
    assert export["stream_format"] == "ndjson" and export["auth"]["auth_type"] == "oauth2"
    assert export["auth"]["client_id"] == "${EXPORT_CLIENT_ID}"
    assert export["auth"]["client_secret"] == "${EXPORT_CLIENT_SECRET}"


def test_a_plain_http_remote_url_would_be_refused():
    # The policy check used above really refuses what it should.
    with pytest.raises(InsecureUrlError):
        check_url("http://api.example.com/v1", what="url")
