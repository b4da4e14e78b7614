"""The OpenAI moderation endpoint (`/v1/moderations`) as a prompt check, through the openai SDK.

Imported only when configured, like the video adapter. A flagged prompt comes back as the
reason a person reads, for its most serious category; the endpoint's scores stay here.
"""

from __future__ import annotations

from typing import Any

import openai

from chalicelib.config import Settings
from chalicelib.services.moderation import ModerationUnavailable

# The most serious first: a prompt flagged for several is refused for the first that applies.
_REASONS = (
    ("sexual/minors", "Prompts that sexualise minors are never generated."),
    ("self-harm", "Content that encourages self-harm is not generated."),
    ("violence/graphic", "Graphic violence and gore are not generated."),
    ("illicit/violent", "Instructions for weapons or violent crimes are not generated."),
    ("hate", "Hateful content is not generated."),
    ("harassment", "Harassing or threatening content is not generated."),
    ("violence", "Violent content is not generated."),
    ("sexual", "Sexual content is not generated."),
    ("illicit", "Instructions for crimes are not generated."),
)
_FALLBACK = "This prompt breaks the content rules."


class OpenAIModeration:
    def __init__(self, client: openai.OpenAI, model: str) -> None:
        self._client = client
        self._model = model

    @classmethod
    def from_settings(cls, settings: Settings, http_client: Any | None = None) -> OpenAIModeration:
        client = openai.OpenAI(
            api_key=settings.moderation_api_key.reveal() if settings.moderation_api_key else None,
            base_url=settings.moderation_api_base_url,
            timeout=5.0,  # the user is waiting on POST /videos
            max_retries=1,
            http_client=http_client,
        )
        return cls(client, settings.moderation_model)

    def check(self, text: str) -> str | None:
        """None when the text may be generated; otherwise the reason it may not."""
        try:
            answer = self._client.moderations.create(model=self._model, input=text)
        except (openai.APIConnectionError, openai.APIStatusError) as exc:
            raise ModerationUnavailable(type(exc).__name__) from None
        flagged = {name for result in answer.results if result.flagged
                   for name, on in result.categories.model_dump(by_alias=True).items() if on}
        if not any(result.flagged for result in answer.results):
            return None
        return next((reason for category, reason in _REASONS
                     if any(name == category or name.startswith(category + "/") for name in flagged)),
                    _FALLBACK)
