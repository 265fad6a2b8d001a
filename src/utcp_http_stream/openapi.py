"""OpenAPI 3.0 / 3.1 / 3.2 and Swagger 2.0 documents -> a UTCP manual of
``streamable_http`` tools (ARCHITECTURE section 7). Pure: no I/O.

One tool per operation. Each operation is converted on its own: one that
cannot be (a broken ``$ref``, a multipart-only body, an unsupported method)
is left out and named in the result's ``errors`` while the others register.
The tools then go through :func:`~utcp_http_stream.manual.parse_manual`, so
every rule a discovered UTCP manual obeys (per-tool validation, no loopback
tool URLs in a document from a non-loopback origin) applies to them too.

Security schemes become auth whose secrets are ``${PLACEHOLDER}`` variables
the user sets, named by :func:`placeholder_name` (``openapi_security.py``).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

from utcp_http_stream.decoders.framing import framing_for_content_type
from utcp_http_stream.manual import ManualParseResult, parse_manual
from utcp_http_stream.openapi_schema import SchemaError, SchemaResolver
from utcp_http_stream.openapi_security import SecuritySchemes, placeholder_name

__all__ = ["BODY_ARGUMENT", "convert_openapi", "is_openapi", "placeholder_name"]

#: The argument that carries the request body (the template's ``body_field``).
BODY_ARGUMENT = "body"

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace", "query")
_SUPPORTED_METHODS = ("get", "put", "post", "delete", "head", "patch")
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_SERVER_VARIABLE = re.compile(r"\{([^{}]*)\}")
_FORM = "application/x-www-form-urlencoded"


class OperationError(ValueError):
    """Why one operation could not become a tool."""


class _Operation(NamedTuple):
    path: str
    method: str
    operation: dict[str, Any]
    path_item: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


class _Body(NamedTuple):
    media_type: str
    schema: Any
    required: bool


class _Context:
    """What every operation's conversion reads: the document, its schemas,
    where it came from."""

    __slots__ = ("document", "resolver", "security", "source_url", "swagger")

    def __init__(self, document: dict[str, Any], source_url: str | None) -> None:
        self.document = document
        self.resolver = SchemaResolver(document)
        self.source_url = source_url
        self.swagger = "swagger" in document and "openapi" not in document
        self.security = SecuritySchemes(
            _security_schemes(document, swagger=self.swagger),
            swagger=self.swagger,
            deref=self.resolver.deref,
            absolute=lambda url: _absolute(self, url),
        )


# -- entry points ----------------------------------------------------------------------


def is_openapi(document: Any) -> bool:
    """True for an OpenAPI 3.x or Swagger 2.0 document (by its top-level key)."""
    return isinstance(document, dict) and ("openapi" in document or "swagger" in document)


def convert_openapi(document: dict[str, Any], *, source_url: str | None = None) -> ManualParseResult:
    """The manual ``document`` describes, and one error per operation left out.

    ``source_url`` is where the document came from: relative server URLs
    resolve against it, and when it is not loopback, tools aimed at loopback
    are refused. Raises ``ValueError`` only when the document as a whole is
    unusable (no ``paths`` object).
    """
    if not isinstance(document.get("paths"), dict):
        raise ValueError("the OpenAPI document has no 'paths' object")
    context = _Context(document, source_url)
    tools: list[dict[str, Any]] = []
    errors: list[str] = []
    names: set[str] = set()
    for operation in _operations(document, errors):
        try:
            tool = _tool(context, operation, errors)
        except (OperationError, SchemaError) as exc:
            errors.append(f"{operation.label}: skipped: {exc}")
            continue
        except (TypeError, AttributeError, KeyError, RecursionError) as exc:  # a value of the wrong type
            errors.append(f"{operation.label}: skipped: malformed ({type(exc).__name__}: {str(exc)[:200]})")
            continue
        if tool["name"] in names:
            errors.append(f"{operation.label}: skipped: a tool named {tool['name']!r} already exists")
            continue
        names.add(tool["name"])
        tools.append(tool)
    parsed = parse_manual({"manual_version": _version(document), "tools": tools}, source_url=source_url)
    return ManualParseResult(parsed.manual, errors + parsed.errors)


def _version(document: dict[str, Any]) -> str:
    info = document.get("info")
    version = info.get("version") if isinstance(info, dict) else None
    return str(version) if version is not None else "1.0.0"


def _operations(document: dict[str, Any], errors: list[str]) -> list[_Operation]:
    found = []
    for path, path_item in document["paths"].items():
        if not isinstance(path_item, dict):
            errors.append(f"{path}: skipped: a path item must be an object")
            continue
        for method in _METHODS:
            operation = path_item.get(method)
            if isinstance(operation, dict):
                found.append(_Operation(str(path), method, operation, path_item))
        found.extend(_additional_operations(str(path), path_item))
    return found


def _additional_operations(path: str, path_item: dict[str, Any]) -> list[_Operation]:
    """OpenAPI 3.2's ``additionalOperations`` (methods such as LINK or COPY):
    listed so each is reported, by its method, as not supported."""
    extra = path_item.get("additionalOperations")
    if not isinstance(extra, dict):
        return []
    return [
        _Operation(path, str(method).lower(), op, path_item) for method, op in extra.items() if isinstance(op, dict)
    ]


# -- one operation -----------------------------------------------------------------------


def _tool(context: _Context, op: _Operation, errors: list[str]) -> dict[str, Any]:
    if op.method not in _SUPPORTED_METHODS:
        raise OperationError(f"HTTP method {op.method.upper()} is not supported by streamable_http tools")
    parameters = _parameters(context, op)
    body = _body(context, op, parameters)
    inputs, header_fields = _inputs(context, parameters, body)
    media = _response_media(context, op)
    stream_format, accept = _stream_format(media)
    template: dict[str, Any] = {
        "call_template_type": "streamable_http",
        "url": _server_url(context, op) + op.path,
        "http_method": op.method.upper(),
        "stream_format": stream_format,
    }
    if body is not None:
        template.update(content_type=body.media_type, body_field=BODY_ARGUMENT)
    if header_fields:
        template["header_fields"] = header_fields
    if accept is not None:
        template["headers"] = {"Accept": accept}
    auth = _auth(context, op, errors)
    if auth is not None:
        template["auth"] = auth
    return {
        "name": _name(op),
        "description": _description(op.operation),
        "tags": [str(tag) for tag in op.operation.get("tags") or [] if isinstance(tag, str | int)],
        "inputs": inputs,
        "outputs": _outputs(context, media, stream_format),
        "tool_call_template": template,
    }


def _name(op: _Operation) -> str:
    operation_id = op.operation.get("operationId")
    raw = str(operation_id) if operation_id else f"{op.method}_{op.path.strip('/')}"
    name = _NOT_A_NAME.sub("_", raw).strip("_")
    if not name:
        raise OperationError("no usable tool name (set an operationId)")
    return name


def _description(operation: dict[str, Any]) -> str:
    for key in ("summary", "description"):
        text = operation.get(key)
        if isinstance(text, str) and text.strip():
            return text.strip()
    return ""


# -- inputs --------------------------------------------------------------------------------


def _parameters(context: _Context, op: _Operation) -> list[dict[str, Any]]:
    """Path-level then operation-level parameters, the latter overriding."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*_as_list(op.path_item.get("parameters")), *_as_list(op.operation.get("parameters"))]:
        parameter = context.resolver.deref(raw)
        if not isinstance(parameter, dict) or "name" not in parameter or "in" not in parameter:
            raise OperationError("a parameter needs 'name' and 'in'")
        merged[(str(parameter["name"]), str(parameter["in"]))] = parameter
    return list(merged.values())


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _inputs(
    context: _Context, parameters: list[dict[str, Any]], body: _Body | None
) -> tuple[dict[str, Any], list[str]]:
    """One object schema over the path, query and header parameters (cookie
    parameters have no mapping) and the body; the header arguments."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in parameters:
        if parameter["in"] in ("path", "query", "header"):
            _add_parameter(context, parameter, properties, required)
        elif parameter["in"] in ("cookie", "querystring") and parameter.get("required"):
            raise OperationError(f"its required {parameter['in']} parameter {parameter['name']!r} cannot be sent")
    headers = [str(p["name"]) for p in parameters if p["in"] == "header"]
    if body is not None:
        _add_body(body, properties, required)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema, headers


def _add_body(body: _Body, properties: dict[str, Any], required: list[str]) -> None:
    """The request body as the argument :data:`BODY_ARGUMENT`."""
    if BODY_ARGUMENT in properties:
        raise OperationError(f"a parameter is named {BODY_ARGUMENT!r}, the request body's argument")
    properties[BODY_ARGUMENT] = body.schema
    if body.required:
        required.append(BODY_ARGUMENT)


def _add_parameter(
    context: _Context, parameter: dict[str, Any], properties: dict[str, Any], required: list[str]
) -> None:
    name = str(parameter["name"])
    if name in properties:
        raise OperationError(f"two parameters are named {name!r}; tool arguments need distinct names")
    properties[name] = _parameter_schema(context, parameter)
    if parameter.get("required") or parameter["in"] == "path":
        required.append(name)


_PARAMETER_KEYS = ("name", "in", "required", "description", "allowEmptyValue", "collectionFormat", "style", "explode")


def _parameter_schema(context: _Context, parameter: dict[str, Any]) -> Any:
    """The parameter's schema, resolved, with the parameter's description."""
    schema = context.resolver.resolve(_raw_parameter_schema(parameter))
    description = parameter.get("description")
    if isinstance(schema, dict) and isinstance(description, str) and "description" not in schema:
        schema = {**schema, "description": description}
    return schema


def _raw_parameter_schema(parameter: dict[str, Any]) -> Any:
    """``schema``, else the schema of its first ``content`` entry, else
    (Swagger 2.0) the parameter itself without the parameter keys."""
    if "schema" in parameter:
        return parameter["schema"]
    if isinstance(parameter.get("content"), dict) and parameter["content"]:
        return next(iter(parameter["content"].values())).get("schema", {})
    return {k: v for k, v in parameter.items() if k not in _PARAMETER_KEYS and not k.startswith("x-")}


# -- the request body --------------------------------------------------------------------------


def _body(context: _Context, op: _Operation, parameters: list[dict[str, Any]]) -> _Body | None:
    if context.swagger:
        return _swagger_body(context, op, parameters)
    raw = op.operation.get("requestBody")
    if raw is None:
        return None
    body = context.resolver.deref(raw)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, dict) or not content:
        raise OperationError("requestBody has no content")
    media_type = _pick_body_media(list(content))
    media = content[media_type] if isinstance(content[media_type], dict) else {}
    schema = context.resolver.resolve(media.get("schema", {}))
    return _Body(_concrete(media_type), schema, bool(body.get("required")))


def _pick_body_media(media_types: list[str]) -> str:
    """The body media type we can send best: JSON, then form, then text,
    then anything else that is not multipart."""
    usable = [m for m in media_types if not str(m).lower().startswith("multipart/")]
    if not usable:
        raise OperationError(
            f"its request body can only be {', '.join(map(str, media_types))}; multipart bodies are not supported yet"
        )
    return min(usable, key=_body_rank)


def _body_rank(media_type: str) -> int:
    lower = media_type.lower()
    if lower == "application/json" or lower.endswith("+json"):
        return 0
    if lower == _FORM:
        return 1
    if lower.startswith("text/"):
        return 2
    return 3


def _concrete(media_type: str) -> str:
    return "application/json" if "*" in media_type else media_type


def _swagger_body(context: _Context, op: _Operation, parameters: list[dict[str, Any]]) -> _Body | None:
    """Swagger 2.0: an ``in: body`` parameter, or ``formData`` parameters
    sent form-urlencoded (a file among them needs multipart)."""
    consumes = _consumes(context, op)
    body = next((p for p in parameters if p["in"] == "body"), None)
    if body is not None:
        schema = context.resolver.resolve(body.get("schema", {}))
        return _Body(_concrete(_pick_body_media(consumes)), schema, bool(body.get("required")))
    form = [p for p in parameters if p["in"] == "formData"]
    return _form_body(context, form, consumes) if form else None


def _consumes(context: _Context, op: _Operation) -> list[str]:
    return op.operation.get("consumes") or context.document.get("consumes") or ["application/json"]


def _form_body(context: _Context, form: list[dict[str, Any]], consumes: list[str]) -> _Body:
    """Swagger 2.0 ``formData`` parameters as one form-urlencoded object."""
    if _FORM not in consumes or any(p.get("type") == "file" for p in form):
        raise OperationError("its form parameters need multipart/form-data, which is not supported yet")
    properties = {str(p["name"]): _parameter_schema(context, p) for p in form}
    required = [str(p["name"]) for p in form if p.get("required")]
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return _Body(_FORM, schema, bool(required))


# -- responses: framing and outputs ---------------------------------------------------------------


def _success_responses(context: _Context, op: _Operation) -> list[dict[str, Any]]:
    responses = op.operation.get("responses")
    if not isinstance(responses, dict):
        return []
    codes = [code for code in responses if str(code).startswith("2")] or [c for c in responses if c == "default"]
    found = [context.resolver.deref(responses[code]) for code in codes]
    return [response for response in found if isinstance(response, dict)]


def _response_media(context: _Context, op: _Operation) -> list[tuple[str, dict[str, Any]]]:
    """(media type, media type object) of every success response, in order."""
    media: list[tuple[str, dict[str, Any]]] = []
    for response in _success_responses(context, op):
        if context.swagger:
            media.extend(_swagger_media(context, op, response))
            continue
        content = response.get("content")
        if isinstance(content, dict):
            media.extend((str(k), v if isinstance(v, dict) else {}) for k, v in content.items())
    return media


def _swagger_media(context: _Context, op: _Operation, response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    schema = response.get("schema")
    if schema is None:
        return []
    if isinstance(schema, dict) and schema.get("type") == "file":
        return [("application/octet-stream", {})]
    produces = op.operation.get("produces") or context.document.get("produces") or ["application/json"]
    return [(str(media_type), {"schema": schema}) for media_type in produces]


def _stream_format(media: list[tuple[str, dict[str, Any]]]) -> tuple[str, str | None]:
    """One framing -> that framing; several (a JSON answer or an event
    stream) -> ``auto`` and the Accept header listing the media types."""
    names = list(dict.fromkeys(media_type for media_type, _ in media))
    kinds = list(dict.fromkeys("auto" if "*" in name else framing_for_content_type(name) for name in names))
    if len(kinds) == 1:
        return kinds[0], None
    if not kinds or "auto" in kinds:
        return "auto", None
    return "auto", ", ".join(names)


def _outputs(context: _Context, media: list[tuple[str, dict[str, Any]]], stream_format: str) -> dict[str, Any]:
    """OpenAPI 3.2's ``itemSchema`` as an array of items; a single JSON
    answer's schema as it is; otherwise nothing is promised. A schema that
    cannot be resolved costs only the outputs, not the tool."""
    try:
        items = next((_item_schema(context, m, obj) for m, obj in media if "itemSchema" in obj), None)
        if items is not None:
            return {"type": "array", "items": items}
        if stream_format in ("json", "auto"):
            return _json_answer_schema(context, media)
    except SchemaError:
        pass
    return {}


def _json_answer_schema(context: _Context, media: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The schema of the first JSON media type that has one, resolved; ``{}`` when none has."""
    schemas = [obj["schema"] for media_type, obj in media if "schema" in obj and _is_json(media_type)]
    resolved = context.resolver.resolve(schemas[0]) if schemas else {}
    return resolved if isinstance(resolved, dict) else {}


def _item_schema(context: _Context, media_type: str, media: dict[str, Any]) -> Any:
    item = context.resolver.resolve(media["itemSchema"])
    return _sse_data_schema(item) if framing_for_content_type(media_type) == "sse" else item


def _sse_data_schema(event: Any) -> Any:
    """An SSE ``itemSchema`` describes the event (``data``, ``event``, ``id``,
    ``retry``); the tool yields each event's data, parsed when it is JSON, so
    the item is ``data``'s ``contentSchema`` when there is one."""
    properties = event.get("properties") if isinstance(event, dict) else None
    data = properties.get("data") if isinstance(properties, dict) else None
    if isinstance(data, dict):
        return data.get("contentSchema", data)
    return event


def _is_json(media_type: str) -> bool:
    return framing_for_content_type(media_type) == "json"


# -- servers -------------------------------------------------------------------------------------


def _server_url(context: _Context, op: _Operation) -> str:
    """The base URL without a trailing slash, absolute."""
    if context.swagger:
        return _swagger_base(context)
    servers = op.operation.get("servers") or op.path_item.get("servers") or context.document.get("servers")
    url = "/" if not servers else _expand_server(servers[0])
    return _absolute(context, url).rstrip("/")


def _expand_server(server: Any) -> str:
    if not isinstance(server, dict) or not isinstance(server.get("url"), str):
        raise OperationError("a server needs a 'url' string")
    variables = server.get("variables") if isinstance(server.get("variables"), dict) else {}

    def default(match: re.Match[str]) -> str:
        variable = variables.get(match.group(1))
        if not isinstance(variable, dict) or "default" not in variable:
            raise OperationError(f"server variable {match.group(1)!r} has no default")
        return str(variable["default"])

    return _SERVER_VARIABLE.sub(default, server["url"])


def _absolute(context: _Context, url: str) -> str:
    if urlsplit(url).scheme:
        return url
    if context.source_url is None:
        raise OperationError(
            f"the server URL {url!r} is relative and the document's own URL is unknown; "
            "give the document's URL (convert --base-url)"
        )
    return urljoin(context.source_url, url)


def _swagger_base(context: _Context) -> str:
    """``schemes`` (https preferred), ``host`` and ``basePath``; what is
    missing comes from the document's own URL."""
    document = context.document
    source = urlsplit(context.source_url or "")
    schemes = [str(s).lower() for s in document.get("schemes") or []] or [source.scheme or "https"]
    scheme = "https" if "https" in schemes else schemes[0]
    host = document.get("host") or source.netloc
    if not host:
        raise OperationError("the document has no 'host' and its own URL is unknown; give it (convert --base-url)")
    base_path = str(document.get("basePath") or "/")
    return f"{scheme}://{host}{base_path}".rstrip("/")


# -- security --------------------------------------------------------------------------------------


def _auth(context: _Context, op: _Operation, errors: list[str]) -> dict[str, Any] | None:
    requirements = op.operation.get("security", context.document.get("security"))
    auth, unsupported = context.security.auth_for(requirements)
    if unsupported:
        errors.append(f"{op.label}: registered without auth: its security ({'; '.join(unsupported)}) is not supported")
    return auth


def _security_schemes(document: dict[str, Any], *, swagger: bool) -> dict[str, Any]:
    if swagger:
        schemes = document.get("securityDefinitions")
    else:
        components = document.get("components")
        schemes = components.get("securitySchemes") if isinstance(components, dict) else None
    return schemes if isinstance(schemes, dict) else {}
