"""TikTok Shop API error codes as the emulator raises them; most travel on HTTP 200 inside the envelope."""

from __future__ import annotations


class ApiError(Exception):
    """An error answer: envelope `code`/`message`, sent with `http_status` (200 unless the docs say otherwise)."""

    def __init__(self, code: int, message: str, http_status: int = 200) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


def bad_request(message: str) -> ApiError:
    # [INF] The fact sheet has no generic invalid-parameter code; 36009004 is the gateway's catch-all
    # ("overloaded" code, clients classify by message), so parameter errors use it too.
    return ApiError(36009004, f"Invalid params. {message}")


INVALID_SIGN = ApiError(106001, "The sign query parameter is invalid.", 401)  # HTTP 401 [C2]
EXPIRED_TOKEN = ApiError(105002, "Expired credentials. The access_token or x-tts-access-token header has expired.")
INVALID_TOKEN = ApiError(36009004, "Invalid credentials. The x-tts-access-token header is invalid.")
MISSING_CIPHER = ApiError(106013, "The shop_cipher query parameter is required.")
TOO_MANY_REQUESTS = ApiError(36009002, "Too many requests. Please retry later.", 429)
INTERNAL_ERROR = ApiError(36009003, "Internal error. Please retry later.", 500)
INVALID_PATH = ApiError(36009009, "Invalid path.", 404)  # [INF] HTTP status not documented
INVALID_METHOD = ApiError(36009010, "Invalid method.", 405)  # [INF] HTTP status not documented
WRONG_CONTENT_TYPE = ApiError(36009022, "Invalid content type. Use application/json.")
INVALID_AUTH_CODE = ApiError(36004004, "Invalid auth code. The auth_code is invalid or has expired.")
PRODUCT_NOT_FOUND = ApiError(12019150, "Product does not exist.")  # [C1]
