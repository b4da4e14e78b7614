"""Prompt moderation, before any credit moves: a small, explainable local rule set, each rule
with the reason a person reads, and, where one is configured, a moderation endpoint after it
(adapters/openai_moderation.py). An endpoint that cannot answer refuses nothing and passes
nothing: the request fails as busy, with nothing charged.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Protocol

from chalicelib.errors import Busy, PromptRefused


class ModerationUnavailable(Exception):
    """Raised by a moderator that cannot answer; the prompt is then neither passed nor refused."""


class Moderator(Protocol):
    def check(self, text: str) -> str | None:
        """None when the text may be generated; otherwise the reason it may not. Raises
        ModerationUnavailable when it cannot tell."""

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\b(child|children|kid|kids|minor|minors|underage|teen|teens)\b.*\b(nude|naked|sexual|sex)\b"
                   r"|\b(nude|naked|sexual|sex)\b.*\b(child|children|kid|kids|minor|minors|underage|teen|teens)\b",
                   re.IGNORECASE | re.DOTALL),
        "Prompts that sexualise minors are never generated.",
    ),
    (
        re.compile(r"\b(behead|beheading|dismember|dismembered|gore)\b", re.IGNORECASE),
        "Graphic violence and gore are not generated.",
    ),
    (
        re.compile(r"\b(bomb[- ]making|make (a )?bomb|build (a )?bomb)\b", re.IGNORECASE),
        "Instructions for weapons or explosives are not generated.",
    ),
)


def _plain(text: str) -> str:
    """The text as the rules read it: compatibility forms folded (fullwidth and styled letters),
    invisible format characters (zero-width spaces and joiners, direction marks) taken out."""
    return "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf")


def check_prompt(prompt: str, moderator: Moderator | None = None) -> None:
    plain = _plain(prompt)
    reason = next((reason for pattern, reason in _RULES if pattern.search(plain)), None)
    if reason is None and moderator is not None:
        try:
            reason = moderator.check(prompt)
        except ModerationUnavailable:
            raise Busy("Prompts cannot be checked just now, so nothing was charged. "
                       "Try again in a minute.") from None
    if reason is not None:
        raise PromptRefused(f"This prompt was refused: {reason} No credits were charged.", field="prompt")
