"""The domain's exceptions. They carry data, not HTTP statuses: app.py maps them."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a caller can act on. `code` is stable and machine-readable."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    """Raised when a well-formed request breaks a rule (a field is missing, too long, unknown)."""

    code = "invalid_input"


class UnderMinimumAge(DomainError):
    """Raised at signup for a birth date less than 13 years ago; nothing is stored."""

    code = "under_minimum_age"


class EmailTaken(DomainError):
    """Raised at signup when the normalised email already has an account."""

    code = "email_taken"


class InvalidCredentials(DomainError):
    """Raised for a wrong email or password; the two are never told apart."""

    code = "invalid_credentials"


class InvalidToken(DomainError):
    """Raised for a missing, malformed, expired or revoked access or refresh token."""

    code = "invalid_token"


class AccountGone(InvalidToken):
    """Raised when a token, valid when issued, is of an account closed or erased since: its
    sessions ended with it, so the client signs in again (to another account)."""

    def __init__(self) -> None:
        super().__init__("This account is closed; its sessions have ended.")


class AccountSuspended(DomainError):
    """Raised at sign-in, with the right password, while an operator reviews a report about the
    account; nothing in it is erased, and it can be reinstated."""

    code = "account_suspended"

    def __init__(self) -> None:
        super().__init__("This account is suspended while we review a report about it. Write to "
                         "contact@aisora2.com if you are its owner and 13 or older.")


class NotFound(DomainError):
    """Raised for an unknown resource and for one that belongs to another user."""

    code = "not_found"


class InsufficientCredits(DomainError):
    """Raised when a video costs more credits than the balance holds."""

    code = "insufficient_credits"

    def __init__(self, cost: int, balance: int) -> None:
        super().__init__(
            f"This video costs {cost} credits and your balance is {balance}. "
            "Buy a credit pack or choose a shorter video."
        )
        self.cost = cost
        self.balance = balance


class PromptRefused(DomainError):
    """Raised when moderation refuses a prompt before any credit moves."""

    code = "prompt_refused"


class NotReady(DomainError):
    """Raised when a video is asked for before it has completed."""

    code = "not_ready"


class Expired(DomainError):
    """Raised when a video's storage period has ended and its files are gone."""

    code = "expired"


class Busy(DomainError):
    """Raised when a write lost a race too many times; the client may retry."""

    code = "busy"


class Throttled(DomainError):
    """Raised past a throttling limit; `retry_after` is in whole seconds (HTTP 429)."""

    code = "too_many_attempts"

    def __init__(self, retry_after: int, reason: str = "Too many attempts.") -> None:
        super().__init__(f"{reason} Try again in {retry_after} seconds.")
        self.retry_after = retry_after


class EmailUnverified(DomainError):
    """Raised when an account asks for a video before confirming its email address."""

    code = "email_unverified"


class LinkInvalid(DomainError):
    """Raised for an emailed link that is unknown, already used or expired."""

    code = "link_invalid"


class WebhookRejected(DomainError):
    """Raised for a webhook whose signature, timestamp or body does not check out."""

    code = "bad_signature"


class LimitReached(DomainError):
    """Raised when a plan's fair-use limit (videos at once, videos a day) is reached."""

    code = "limit_reached"


class AlreadyDecided(DomainError):
    """Raised for an operator action on a privacy request (or account) no longer in the state it
    needs: decided already, or changed meanwhile."""

    code = "already_decided"
