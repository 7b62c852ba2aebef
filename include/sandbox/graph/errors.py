"""Graph's error vocabulary: the codes, statuses and messages the real service answers with.

Models raise :class:`GraphError`; the routes turn it into the body Graph sends,
``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``.
"""

from __future__ import annotations


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def item_not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def invalid_user(user: str) -> GraphError:
    return GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")


def mailbox_not_enabled() -> GraphError:
    return GraphError(
        404,
        "MailboxNotEnabledForRESTAPI",
        "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
    )


def access_denied() -> GraphError:
    return GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def invalid_parameter(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidParameter", message)


def invalid_request(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", message)


def property_validation() -> GraphError:
    # Graph says no more than this when start/end of an event are unacceptable (e.g. isAllDay with times).
    return GraphError(400, "ErrorPropertyValidationFailure", "At least one property failed validation.")


def unknown_property(name: str, type_name: str = "microsoft.graph.event") -> GraphError:
    return GraphError(
        400,
        "RequestBodyRead",
        f"The property '{name}' does not exist on type '{type_name}'. Make sure to only use "
        "property names that are defined by the type or mark the type as open type.",
    )


def bad_enum(value: object, type_name: str) -> GraphError:
    return GraphError(
        400, "RequestBodyRead", f"Cannot convert the literal '{value}' to the expected type '{type_name}'."
    )


def bad_body() -> GraphError:
    return GraphError(400, "RequestBodyRead", "Invalid JSON. A token was not recognized in the JSON content.")


def unsupported_time_zone(tz: str) -> GraphError:
    return GraphError(
        400,
        "TimeZoneNotSupportedException",
        f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{tz}'.",
    )


def change_key_mismatch() -> GraphError:
    return GraphError(
        412,
        "ErrorIrresolvableConflict",
        "The send or update operation could not be performed because the change key passed in "
        "the request does not match the current change key for the item.",
    )


def sync_state_not_found() -> GraphError:
    return GraphError(
        410,
        "SyncStateNotFound",
        "The sync state generation is not found or has expired. Please do a full sync.",
    )


def invalid_filter(detail: str = "") -> GraphError:
    msg = "The query filter contains one or more invalid nodes."
    return GraphError(400, "ErrorInvalidUrlQueryFilter", f"{msg} {detail}".strip())


def unknown_select(name: str, type_name: str = "microsoft.graph.event") -> GraphError:
    return GraphError(
        400, "RequestBroker--ParseUri", f"Could not find a property named '{name}' on type '{type_name}'."
    )


def segment_not_found(segment: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def no_token() -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")


def bad_token(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message)


def category_exists(name: str) -> GraphError:
    # EWS's code for a duplicate key; Microsoft does not document the masterCategories conflict body.
    return GraphError(409, "ErrorItemAlreadyExists", f"A category with the name '{name}' already exists.")


def bad_category_color(color: object) -> GraphError:
    return bad_enum(color, "microsoft.graph.categoryColor")


def category_name_readonly() -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", "The displayName of a category cannot be changed.")
