"""Query strings with WordPress REST semantics: PHP arrays, schema validation errors and version gates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote_plus, unquote_plus

from storepipe.emulators.woocommerce.config import EmulatorConfig
from storepipe.emulators.woocommerce.skeleton import ORDER_STATUSES, SUB_STATUSES
from storepipe.emulators.woocommerce.timeutil import BadDate, TzTable, parse_rest_date_as_wall

PhpValue = str | list[str]
_INT = re.compile(r"^[+-]?\d+(?:\.0+)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_BOOL = {"true": True, "1": True, "false": False, "0": False}


def php_query(query_string: str) -> dict[str, PhpValue]:
    """$_GET semantics: `a[]=x`/`a[0]=x` build lists, a repeated plain key keeps its last value."""
    out: dict[str, PhpValue] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if "[" in key and key.endswith("]"):
            name = key[: key.index("[")]
            current = out.get(name)
            out[name] = ([*current] if isinstance(current, list) else []) + [value]
        else:
            out[key] = value
    return out


def php_urlencode(value: str) -> str:
    """PHP urlencode(): spaces as '+', everything but [A-Za-z0-9_.-] percent-encoded."""
    return quote_plus(value, safe="").replace("~", "%7E")


def link_query(params: dict[str, PhpValue], page: int) -> str:
    """The query string WooCommerce puts in Link headers.

    add_query_arg($request->get_query_params(), …) inserts the decoded values raw, then the second
    add_query_arg('page', …) re-parses that URL (parse_str decodes it once more) and urlencode()s it. Net
    effect: every value is urldecoded once more, then urlencoded — so a literal '+' (e.g. a +02:00
    offset) turns into a space in the next page's request. Arrays come back as name%5B0%5D=….
    """
    parts: list[str] = []
    seen_page = False
    for name, value in params.items():
        if name == "page":
            parts.append(f"page={page}")
            seen_page = True
        elif isinstance(value, list):
            parts += [
                f"{php_urlencode(name)}%5B{i}%5D={php_urlencode(unquote_plus(v))}"
                for i, v in enumerate(value)
            ]
        else:
            parts.append(f"{php_urlencode(name)}={php_urlencode(unquote_plus(value))}")
    if not seen_page:
        parts.append(f"page={page}")
    return "&".join(parts)


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # int | bool | date | enum | int_list | enum_list | str | str_list | email
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] = ()
    since: str | None = None  # WooCommerce version that introduced it; older stores ignore it entirely


@dataclass
class ListQuery:
    """A validated collection request."""

    page: int = 1
    per_page: int = 10
    offset: int | None = None
    order: str = "desc"
    orderby: str = "date"
    after: int | None = None  # wall-clock seconds (see parse_rest_date_as_wall)
    before: int | None = None
    modified_after: int | None = None
    modified_before: int | None = None
    dates_are_gmt: bool = False
    include: list[int] | None = None
    exclude: list[int] | None = None
    parent: list[int] | None = None
    parent_exclude: list[int] | None = None
    status: list[str] = field(default_factory=lambda: ["any"])
    customer: int | None = None
    search: str | None = None
    email: str | None = None
    role: str = "customer"
    type: str | None = None
    sku: str | None = None
    slug: str | None = None
    code: str | None = None
    dp: int | None = None
    fields: list[str] | None = None
    include_meta: list[str] | None = None
    exclude_meta: list[str] | None = None


class InvalidParams(Exception):
    """rest_invalid_param: every failing parameter with its WordPress error code and message."""

    def __init__(self, errors: dict[str, tuple[str, str]]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


_COMMON_HEAD = (
    Param("context", "enum", enum=("view", "edit")),
    Param("page", "int", minimum=1),
    Param("per_page", "int", minimum=1, maximum=100),
    Param("search", "str"),
)
_DATES = (
    Param("after", "date"),
    Param("before", "date"),
    Param("modified_after", "date", since="5.8.0"),
    Param("modified_before", "date", since="5.8.0"),
    Param("dates_are_gmt", "bool", since="5.4.0"),
)
_SET = (Param("exclude", "int_list"), Param("include", "int_list"), Param("offset", "int"))
_ORDERING = (Param("order", "enum", enum=("asc", "desc")),)
_POST_ORDERBY = ("date", "id", "include", "title", "slug", "modified")
_PARENT = (Param("parent", "int_list"), Param("parent_exclude", "int_list"))


def _with_any(statuses: tuple[str, ...]) -> tuple[str, ...]:
    return ("any", "trash", *(s for s in statuses if s != "trash"))


def _crud(orderby: tuple[str, ...], *extra: Param) -> tuple[Param, ...]:
    return (
        *_COMMON_HEAD,
        *_DATES,
        *_SET,
        *_ORDERING,
        Param("orderby", "enum", enum=orderby),
        *_PARENT,
        *extra,
    )


_ORDER_EXTRA = (
    Param("customer", "int"),
    Param("product", "int"),
    Param("dp", "int"),
    Param("include_meta", "str_list"),
    Param("exclude_meta", "str_list"),
)
SCHEMAS: dict[str, tuple[Param, ...]] = {
    # array_merge(['any', 'trash'], statuses without the wc- prefix), as the order controllers build it.
    "orders": _crud(
        _POST_ORDERBY, Param("status", "enum_list", enum=_with_any(ORDER_STATUSES)), *_ORDER_EXTRA
    ),
    "subscriptions": _crud(
        _POST_ORDERBY, Param("status", "enum_list", enum=_with_any(SUB_STATUSES)), *_ORDER_EXTRA
    ),
    "refunds": _crud(_POST_ORDERBY, Param("dp", "int")),
    "products": _crud(
        ("date", "id", "include", "title", "slug", "price", "popularity", "rating", "modified"),
        Param("slug", "str"),
        Param("status", "enum", enum=("any", "future", "trash", "draft", "pending", "private", "publish")),
        Param(
            "type",
            "enum",
            enum=("simple", "grouped", "external", "variable", "subscription", "variable-subscription"),
        ),
        Param("sku", "str"),
    ),
    "variations": _crud(_POST_ORDERBY, Param("sku", "str")),
    "coupons": _crud(_POST_ORDERBY, Param("code", "str")),
    "customers": (
        *_COMMON_HEAD,
        *_SET,
        Param("order", "enum", enum=("asc", "desc")),
        Param("orderby", "enum", enum=("id", "include", "name", "registered_date")),
        Param("email", "email"),
        Param(
            "role",
            "enum",
            enum=(
                "all",
                "administrator",
                "editor",
                "author",
                "contributor",
                "subscriber",
                "customer",
                "shop_manager",
            ),
        ),
    ),
}


def _wp_list(items: tuple[str, ...]) -> str:
    """wp_sprintf_l('%l', …) in en_US: 'a, b, and c' / 'a and b'."""
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _split(value: PhpValue) -> list[str]:
    """wp_parse_list: arrays stay, strings split on commas and whitespace."""
    if isinstance(value, list):
        return value
    return [part for part in re.split(r"[\s,]+", value) if part]


def _check(param: Param, value: PhpValue, tz: TzTable) -> tuple[object, tuple[str, str] | None]:
    """(parsed value, None) or (None, (code, message)) with WordPress's wording."""
    name = param.name
    if param.type in ("int", "enum", "bool", "date", "email", "str") and isinstance(value, list):
        value = value[-1] if param.type == "str" else ",".join(value)
        if param.type != "str":
            return None, ("rest_invalid_type", f"{name} is not of type {_type_word(param)}.")
    if param.type == "int":
        if not _INT.match(value):
            return None, ("rest_invalid_type", f"{name} is not of type integer.")
        number = int(float(value))
        if (
            param.minimum is not None
            and param.maximum is not None
            and not param.minimum <= number <= param.maximum
        ):
            return None, (
                "rest_out_of_bounds",
                f"{name} must be between {param.minimum} (inclusive) and {param.maximum} (inclusive)",
            )
        if param.minimum is not None and number < param.minimum:
            return None, ("rest_out_of_bounds", f"{name} must be greater than or equal to {param.minimum}")
        return number, None
    if param.type == "bool":
        if value.lower() not in _BOOL:
            return None, ("rest_invalid_type", f"{name} is not of type boolean.")
        return _BOOL[value.lower()], None
    if param.type == "date":
        try:
            return parse_rest_date_as_wall(value, tz), None
        except BadDate:
            return None, ("rest_invalid_date", "Invalid date.")
    if param.type == "enum":
        if value not in param.enum:
            return None, ("rest_not_in_enum", f"{name} is not one of {_wp_list(param.enum)}.")
        return value, None
    if param.type == "email":
        if not _EMAIL.match(value):
            return None, ("rest_invalid_email", "Invalid email address.")
        return value, None
    if param.type == "int_list":
        out = []
        for i, item in enumerate(_split(value)):
            if not _INT.match(item):
                return None, ("rest_invalid_type", f"{name}[{i}] is not of type integer.")
            out.append(int(float(item)))
        return out, None
    if param.type == "enum_list":
        items = _split(value)
        for i, item in enumerate(items):
            if item not in param.enum:
                return None, ("rest_not_in_enum", f"{name}[{i}] is not one of {_wp_list(param.enum)}.")
        return items, None
    if param.type == "str_list":
        return _split(value), None
    return value, None


def _type_word(param: Param) -> str:
    return {"int": "integer", "bool": "boolean"}.get(param.type, "string")


def parse_list_query(
    resource: str, params: dict[str, PhpValue], config: EmulatorConfig, tz: TzTable
) -> ListQuery:
    """Validate a collection request like WP_REST_Request::has_valid_params, then build a ListQuery."""
    query = ListQuery()
    if resource == "customers":
        query.order, query.orderby = "asc", "name"
    errors: dict[str, tuple[str, str]] = {}
    for param in SCHEMAS[resource]:
        if param.name not in params:
            continue
        if param.since and not config.at_least(param.since):
            continue  # WordPress ignores parameters a route does not declare.
        value, error = _check(param, params[param.name], tz)
        if error:
            errors[param.name] = error
            continue
        attr = param.name
        if attr in ("context", "product"):
            continue
        if attr == "offset":
            value = abs(int(value))  # type: ignore[arg-type]  # sanitize_callback absint
        if attr == "status" and isinstance(value, str):
            value = [value]  # Products take a single status; keep ListQuery.status a list.
        setattr(query, attr, value)
    if errors:
        raise InvalidParams(errors)
    if "_fields" in params:
        query.fields = _split(params["_fields"])
    return query


def parse_item_fields(params: dict[str, PhpValue]) -> list[str] | None:
    return _split(params["_fields"]) if "_fields" in params else None
