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
from utcp_http_stream.json_values import as_dict, as_list
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
#: Where a parameter becomes a tool argument (a cookie has no mapping).
_ARGUMENT_LOCATIONS = ("path", "query", "header")


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
    errors: list[str] = []
    tools = _tools(_Context(document, source_url), errors)
    parsed = parse_manual({"manual_version": _version(document), "tools": tools}, source_url=source_url)
    return ManualParseResult(parsed.manual, errors + parsed.errors)


def _tools(context: _Context, errors: list[str]) -> list[dict[str, Any]]:
    """One tool per operation that converts, the first of each name; why
    the others were skipped appended to ``errors``."""
    tools: dict[str, dict[str, Any]] = {}
    for operation in _operations(context.document, errors):
        tool = _tool_or_report(context, operation, errors)
        if tool is None:
            continue
        if tool["name"] in tools:
            errors.append(f"{operation.label}: skipped: a tool named {tool['name']!r} already exists")
            continue
        tools[tool["name"]] = tool
    return list(tools.values())


def _tool_or_report(context: _Context, operation: _Operation, errors: list[str]) -> dict[str, Any] | None:
    """:func:`_tool`, or None with why the operation was skipped appended to ``errors``."""
    try:
        return _tool(context, operation, errors)
    except (OperationError, SchemaError) as exc:
        reason = str(exc)
    except (TypeError, AttributeError, KeyError, RecursionError) as exc:  # a value of the wrong type
        reason = f"malformed ({type(exc).__name__}: {str(exc)[:200]})"
    errors.append(f"{operation.label}: skipped: {reason}")
    return None


def _version(document: dict[str, Any]) -> str:
    version = as_dict(document.get("info")).get("version")
    return str(version) if version is not None else "1.0.0"


def _operations(document: dict[str, Any], errors: list[str]) -> list[_Operation]:
    found = []
    for path, path_item in document["paths"].items():
        if not isinstance(path_item, dict):
            errors.append(f"{path}: skipped: a path item must be an object")
            continue
        found.extend(_path_operations(str(path), path_item))
    return found


def _path_operations(path: str, path_item: dict[str, Any]) -> list[_Operation]:
    """The operations of one path item. OpenAPI 3.2's ``additionalOperations``
    (methods such as LINK or COPY) come last: listed so each is reported, by
    its method, as not supported."""
    standard = [(method, path_item.get(method)) for method in _METHODS]
    additional = as_dict(path_item.get("additionalOperations")).items()
    return [
        _Operation(path, str(method).lower(), op, path_item)
        for method, op in [*standard, *additional]
        if isinstance(op, dict)
    ]


# -- one operation -----------------------------------------------------------------------


def _tool(context: _Context, op: _Operation, errors: list[str]) -> dict[str, Any]:
    """The operation as a tool document; raises what keeps it from being one."""
    if op.method not in _SUPPORTED_METHODS:
        raise OperationError(f"HTTP method {op.method.upper()} is not supported by streamable_http tools")
    parameters = _parameters(context, op)
    body = _body(context, op, parameters)
    inputs = _inputs(context, parameters, body)
    media = _response_media(context, op)
    stream_format, accept = _stream_format(media)
    template: dict[str, Any] = {
        "call_template_type": "streamable_http",
        "url": _server_url(context, op) + op.path,
        "http_method": op.method.upper(),
        "stream_format": stream_format,
        **_argument_fields(parameters, body),
    }
    if accept is not None:
        template["headers"] = {"Accept": accept}
    auth = _auth(context, op, errors)
    if auth is not None:
        template["auth"] = auth
    return {
        "name": _name(op),
        "description": _description(op.operation),
        "tags": _tags(op.operation),
        "inputs": inputs,
        "outputs": _outputs(context, media, stream_format),
        "tool_call_template": template,
    }


def _argument_fields(parameters: list[dict[str, Any]], body: _Body | None) -> dict[str, Any]:
    """The template fields that say where arguments go besides the URL: the
    body (its media type and argument) and the header arguments."""
    fields: dict[str, Any] = {}
    if body is not None:
        fields.update(content_type=body.media_type, body_field=BODY_ARGUMENT)
    header_fields = [str(p["name"]) for p in _located(parameters, "header")]
    if header_fields:
        fields["header_fields"] = header_fields
    return fields


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


def _tags(operation: dict[str, Any]) -> list[str]:
    """The operation's string (or number) tags."""
    return [str(tag) for tag in operation.get("tags") or [] if isinstance(tag, str | int)]


# -- inputs --------------------------------------------------------------------------------


def _parameters(context: _Context, op: _Operation) -> list[dict[str, Any]]:
    """Path-level then operation-level parameters, the latter overriding."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*as_list(op.path_item.get("parameters")), *as_list(op.operation.get("parameters"))]:
        parameter = context.resolver.deref(raw)
        if not as_dict(parameter).keys() >= {"name", "in"}:
            raise OperationError("a parameter needs 'name' and 'in'")
        merged[(str(parameter["name"]), str(parameter["in"]))] = parameter
    return list(merged.values())


def _located(parameters: list[dict[str, Any]], location: str) -> list[dict[str, Any]]:
    """The parameters ``in`` one location."""
    return [parameter for parameter in parameters if parameter["in"] == location]


def _inputs(context: _Context, parameters: list[dict[str, Any]], body: _Body | None) -> dict[str, Any]:
    """One object schema over the path, query and header parameters (cookie
    parameters have no mapping) and the body."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in parameters:
        if parameter["in"] in _ARGUMENT_LOCATIONS:
            _add_parameter(context, parameter, properties, required)
        else:
            _check_not_needed(parameter)
    if body is not None:
        _add_body(body, properties, required)
    return _object_schema(properties, required)


def _check_not_needed(parameter: dict[str, Any]) -> None:
    """A cookie or OpenAPI 3.2 ``querystring`` parameter cannot be sent: refuse one that is required."""
    if parameter["in"] in ("cookie", "querystring") and parameter.get("required"):
        raise OperationError(f"its required {parameter['in']} parameter {parameter['name']!r} cannot be sent")


def _object_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """An object schema with these properties; ``required`` only when some are."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


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
    content = as_dict(parameter.get("content"))
    if content:
        return next(iter(content.values())).get("schema", {})
    return _inline_schema(parameter)


def _inline_schema(parameter: dict[str, Any]) -> dict[str, Any]:
    """A Swagger 2.0 parameter's schema keywords: all but the parameter keys
    and the ``x-`` extensions."""
    return {k: v for k, v in parameter.items() if k not in _PARAMETER_KEYS and not k.startswith("x-")}


# -- the request body --------------------------------------------------------------------------


def _body(context: _Context, op: _Operation, parameters: list[dict[str, Any]]) -> _Body | None:
    return _swagger_body(context, op, parameters) if context.swagger else _request_body(context, op)


def _request_body(context: _Context, op: _Operation) -> _Body | None:
    """OpenAPI 3's ``requestBody``, in the media type we send best."""
    raw = op.operation.get("requestBody")
    if raw is None:
        return None
    body = as_dict(context.resolver.deref(raw))
    content = as_dict(body.get("content"))
    if not content:
        raise OperationError("requestBody has no content")
    media_type = _pick_body_media(list(content))
    schema = context.resolver.resolve(as_dict(content[media_type]).get("schema", {}))
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
    consumes = _swagger_media_types(context, op, "consumes")
    bodies = _located(parameters, "body")
    if bodies:
        schema = context.resolver.resolve(bodies[0].get("schema", {}))
        return _Body(_concrete(_pick_body_media(consumes)), schema, bool(bodies[0].get("required")))
    form = _located(parameters, "formData")
    return _form_body(context, form, consumes) if form else None


def _swagger_media_types(context: _Context, op: _Operation, key: str) -> list[str]:
    """Swagger 2.0's ``consumes`` or ``produces``: the operation's, else the
    document's, else JSON."""
    return op.operation.get(key) or context.document.get(key) or ["application/json"]


def _form_body(context: _Context, form: list[dict[str, Any]], consumes: list[str]) -> _Body:
    """Swagger 2.0 ``formData`` parameters as one form-urlencoded object."""
    if _needs_multipart(form, consumes):
        raise OperationError("its form parameters need multipart/form-data, which is not supported yet")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in form:
        _add_parameter(context, parameter, properties, required)
    return _Body(_FORM, _object_schema(properties, required), bool(required))


def _needs_multipart(form: list[dict[str, Any]], consumes: list[str]) -> bool:
    """True when the operation does not consume a form-urlencoded body, or
    one of its form parameters is a file."""
    return _FORM not in consumes or any(p.get("type") == "file" for p in form)


# -- responses: framing and outputs ---------------------------------------------------------------


def _success_responses(context: _Context, op: _Operation) -> list[dict[str, Any]]:
    """The success responses (see :func:`_success_codes`) that are objects, dereferenced."""
    responses = as_dict(op.operation.get("responses"))
    found = (context.resolver.deref(responses[code]) for code in _success_codes(responses))
    return [response for response in found if isinstance(response, dict)]


def _success_codes(responses: dict[Any, Any]) -> list[Any]:
    """The 2XX status codes, else ``default`` when there is one."""
    codes = [code for code in responses if str(code).startswith("2")]
    if not codes and "default" in responses:
        codes = ["default"]
    return codes


def _response_media(context: _Context, op: _Operation) -> list[tuple[str, dict[str, Any]]]:
    """(media type, media type object) of every success response, in order."""
    media: list[tuple[str, dict[str, Any]]] = []
    for response in _success_responses(context, op):
        media.extend(_swagger_media(context, op, response) if context.swagger else _content_media(response))
    return media


def _content_media(response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """OpenAPI 3: the response's ``content`` entries."""
    return [(str(k), as_dict(v)) for k, v in as_dict(response.get("content")).items()]


def _swagger_media(context: _Context, op: _Operation, response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Swagger 2.0: the response's ``schema`` in each media type it ``produces``."""
    schema = response.get("schema")
    if schema is None:
        return []
    if as_dict(schema).get("type") == "file":
        return [("application/octet-stream", {})]
    return [(str(media_type), {"schema": schema}) for media_type in _swagger_media_types(context, op, "produces")]


def _stream_format(media: list[tuple[str, dict[str, Any]]]) -> tuple[str, str | None]:
    """One framing -> that framing; several (a JSON answer or an event
    stream) -> ``auto`` and the Accept header listing the media types."""
    names = list(dict.fromkeys(media_type for media_type, _ in media))
    kinds = list(dict.fromkeys(map(_framing, names)))
    if len(kinds) == 1:
        return kinds[0], None
    if not kinds or "auto" in kinds:
        return "auto", None
    return "auto", ", ".join(names)


def _framing(media_type: str) -> str:
    """The framing of a response media type; a wildcard one could be any (``auto``)."""
    return "auto" if "*" in media_type else framing_for_content_type(media_type)


def _outputs(context: _Context, media: list[tuple[str, dict[str, Any]]], stream_format: str) -> dict[str, Any]:
    """OpenAPI 3.2's ``itemSchema`` as an array of items; a single JSON
    answer's schema as it is; otherwise nothing is promised. A schema that
    cannot be resolved costs only the outputs, not the tool."""
    try:
        items = _items_schema(context, media)
        if items is not None:
            return {"type": "array", "items": items}
        if stream_format in ("json", "auto"):
            return _json_answer_schema(context, media)
    except SchemaError:
        pass
    return {}


def _items_schema(context: _Context, media: list[tuple[str, dict[str, Any]]]) -> Any:
    """The first ``itemSchema``'s item, resolved; None when no media type has one."""
    return next((_item_schema(context, m, obj) for m, obj in media if "itemSchema" in obj), None)


def _json_answer_schema(context: _Context, media: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The schema of the first JSON media type that has one, resolved; ``{}`` when none has."""
    schema = next((obj["schema"] for media_type, obj in media if "schema" in obj and _is_json(media_type)), {})
    return as_dict(context.resolver.resolve(schema))


def _item_schema(context: _Context, media_type: str, media: dict[str, Any]) -> Any:
    item = context.resolver.resolve(media["itemSchema"])
    return _sse_data_schema(item) if framing_for_content_type(media_type) == "sse" else item


def _sse_data_schema(event: Any) -> Any:
    """An SSE ``itemSchema`` describes the event (``data``, ``event``, ``id``,
    ``retry``); the tool yields each event's data, parsed when it is JSON, so
    the item is ``data``'s ``contentSchema`` when there is one."""
    data = as_dict(as_dict(event).get("properties")).get("data")
    if isinstance(data, dict):
        return data.get("contentSchema", data)
    return event


def _is_json(media_type: str) -> bool:
    return framing_for_content_type(media_type) == "json"


# -- servers -------------------------------------------------------------------------------------


def _server_url(context: _Context, op: _Operation) -> str:
    """The base URL without a trailing slash, absolute."""
    return _swagger_base(context) if context.swagger else _server_base(context, op)


def _server_base(context: _Context, op: _Operation) -> str:
    """OpenAPI 3: the first server of the operation, else of its path, else of the document."""
    servers = op.operation.get("servers") or op.path_item.get("servers") or context.document.get("servers")
    url = "/" if not servers else _expand_server(servers[0])
    return _absolute(context, url).rstrip("/")


def _expand_server(server: Any) -> str:
    if not isinstance(as_dict(server).get("url"), str):
        raise OperationError("a server needs a 'url' string")
    variables = as_dict(server.get("variables"))

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
    scheme = _swagger_scheme(document, source.scheme)
    host = document.get("host") or source.netloc
    if not host:
        raise OperationError("the document has no 'host' and its own URL is unknown; give it (convert --base-url)")
    base_path = str(document.get("basePath") or "/")
    return f"{scheme}://{host}{base_path}".rstrip("/")


def _swagger_scheme(document: dict[str, Any], source_scheme: str) -> str:
    """https when the document's ``schemes`` offer it, else their first; with
    none listed, the scheme of the document's own URL (https when unknown)."""
    schemes = [str(s).lower() for s in document.get("schemes") or [source_scheme or "https"]]
    return "https" if "https" in schemes else schemes[0]


# -- security --------------------------------------------------------------------------------------


def _auth(context: _Context, op: _Operation, errors: list[str]) -> dict[str, Any] | None:
    requirements = op.operation.get("security", context.document.get("security"))
    auth, unsupported = context.security.auth_for(requirements)
    if unsupported:
        errors.append(f"{op.label}: registered without auth: its security ({'; '.join(unsupported)}) is not supported")
    return auth


def _security_schemes(document: dict[str, Any], *, swagger: bool) -> dict[str, Any]:
    if swagger:
        return as_dict(document.get("securityDefinitions"))
    return as_dict(as_dict(document.get("components")).get("securitySchemes"))
