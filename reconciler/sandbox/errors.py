"""Graph API errors as the sandbox raises and renders them.

The envelope is Graph's (https://developers.facebook.com/docs/graph-api/guides/error-handling):
``{"error": {"message", "type", "code", "error_subcode", "error_user_title", "error_user_msg",
"fbtrace_id", "error_data", "is_transient"}}``. Messages copy Graph's wording where the seeds or the
Graph docs give it, so that code tested here meets the same text in production.
"""

from __future__ import annotations

from typing import Any


class GraphError(Exception):
    """An error answer; raised anywhere in a handler, rendered once by the application."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        status: int = 400,
        type: str = "OAuthException",
        subcode: int | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        error_data: dict[str, Any] | None = None,
        is_transient: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.type = type
        self.subcode = subcode
        self.user_title = user_title
        self.user_msg = user_msg
        self.error_data = error_data
        self.is_transient = is_transient
        self.headers = headers or {}

    def envelope(self, fbtrace_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            body["error_subcode"] = self.subcode
        if self.is_transient is not None:
            body["is_transient"] = self.is_transient
        if self.user_title is not None:
            body["error_user_title"] = self.user_title
        if self.user_msg is not None:
            body["error_user_msg"] = self.user_msg
        if self.error_data is not None:
            body["error_data"] = self.error_data
        body["fbtrace_id"] = fbtrace_id
        return {"error": body}


def invalid_parameter(
    message: str, *, user_title: str | None = None, user_msg: str | None = None, subcode: int | None = None
) -> GraphError:
    """Graph's code 100: a parameter is missing, malformed or not allowed (the Marketing API says
    ``is_transient: false`` with these)."""
    return GraphError(
        100, f"(#100) {message}", user_title=user_title, user_msg=user_msg, subcode=subcode, is_transient=False
    )


def required(name: str) -> GraphError:
    return invalid_parameter(f"The parameter {name} is required")


def unsupported(method: str, object_id: str) -> GraphError:
    """What Graph answers for an id that does not exist (or that this token may not see)."""
    return GraphError(
        100,
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read the Graph "
        "API documentation at https://developers.facebook.com/docs/graph-api",
        type="GraphMethodException",
        subcode=33,
    )


def nonexisting_field(field: str, node_type: str) -> GraphError:
    return invalid_parameter(f"Tried accessing nonexisting field ({field}) on node type ({node_type})")


def unknown_path(components: str) -> GraphError:
    return GraphError(2500, f"Unknown path components: {components}")


def marketing_messages(
    code: int, name: str, message: str, *, error_data: dict[str, Any] | None = None, status: int = 400
) -> GraphError:
    """A MARKETING_MESSAGES_DIRECT error from the API reference's table (graph-api.md §5): Graph's
    ``(#code) `` prefix and the table's description. The table gives no user-facing title, so none
    is invented; ``name`` is the table's name for the code (the client knows it by the code)."""
    del name  # kept at the call sites: it says which row of the table each refusal is
    return GraphError(code, f"(#{code}) {message}", error_data=error_data, status=status)


# The MARKETING_MESSAGES_DIRECT codes the sandbox produces, as the API reference names them.
INACTIVE_CAMPAIGN = 2300000
INVALID_MESSAGE_ID = 2300001
INACTIVE_MESSAGE_SET = 2300002
INACTIVE_MESSAGE = 2300003
INVALID_MESSENGER_SUBSCRIPTION_TOKEN = 2300004
PAGE_ID_MISMATCH = 2300005
INVALID_MESSAGE_CREATIVE = 2300010
MISSING_PAYMENT_METHOD = 2300011
TERM_OF_SERVICE_NOT_ACCEPTED = 2300013
AD_ACCOUNT_NOT_MATCH = 2300014
AD_ACCOUNT_REGION_NOT_SUPPORTED = 2300030
PAGE_REGION_NOT_SUPPORTED = 2300031
SUBSCRIPTION_TOKEN_REGION_NOT_SUPPORTED = 2300032
PACING_INFO_UNAVAILABLE = 2300028  # changelog 2026-05-05: retry after 1 hour
ACCOUNT_SPEND_CAP_REACHED = 2300072
RECIPIENT_NOT_AVAILABLE = 1893047  # changelog 2026-03-19
# Frequency caps (changelog 2026-04-10) are named in the seeds without numbers; these numbers come from
# an unverified page (meta-api-facts.md), and the sandbox also puts the name in the message and title.
WEEKLY_MM_LOAD_CAP_REACHED = 2300042
DAILY_MM_LOAD_CAP_REACHED = 2300043
MIN_ORGANIC_THREAD_NOT_REACHED = 2300044
INVALID_PACING_TYPE = 2300020
RECIPIENT_UNAVAILABLE = 2300052
LIFETIME_BUDGET_REACHED = 2300069
DAILY_BUDGET_REACHED = 2300070
PACING_LIMIT_REACHED = 2300071
SUBSCRIPTION_TOKENS_RATE_LIMIT = 2300080
# Payload checks from the API reference (graph-api.md §6).
VIDEO_WITHOUT_ID = 2300021
IMAGE_WITHOUT_URL = 2300022
INVALID_BUTTON_TYPE = 2300023
EMPTY_BUTTON_URL = 2300024
EMPTY_BUTTON_TITLE = 2300025
TOO_MANY_BUTTONS = 2300026
