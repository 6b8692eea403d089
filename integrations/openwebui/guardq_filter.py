"""
title: guardq moderation
description: Moderates chats with guardq: the user's message before the model, the reply after.
version: 0.1.0
license: same as guardq
requirements:
"""

# An Open WebUI Filter function. Paste this file in Admin Panel > Functions > "+", save,
# set the Valves (guardq's URL and a producer key), enable it, and attach it to models
# (or make it global). It needs nothing beyond the standard library and pydantic, which
# Open WebUI ships: guardq is called with urllib, in a thread, so the server's event
# loop never waits on it.
#
# It calls guardq's POST /v1/chat/completions with the guard conversation, [user]
# for the inlet and [user, assistant] for the outlet, and reads the policy's action
# from the answer's "guardq" member: anything but "allow" (blocked, or held for human
# review) stops the chat with an exception whose message Open WebUI shows the user.
# On the outlet the reply has already streamed to the screen, so the filter also
# replaces it in the body before raising, and the stored chat keeps the block message.
# guardq being unreachable blocks too unless fail_open is set.

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from pydantic import BaseModel, Field


class GuardqBlocked(Exception):
    """The chat was stopped by guardq's policy (or guardq could not be asked)."""


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # text and image parts: guardq moderates the text
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def _last(messages: list, role: str, before: int | None = None) -> int | None:
    end = len(messages) if before is None else before
    for index in range(end - 1, -1, -1):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == role:
            return index
    return None


class Filter:
    class Valves(BaseModel):
        priority: int = Field(default=0, description="Order among filters (lower runs first).")
        guardq_url: str = Field(
            default="http://localhost:8000", description="guardq's base URL, without /v1."
        )
        api_key: str = Field(default="", description="A guardq producer key.")
        moderate_input: bool = Field(default=True, description="Moderate the user's message.")
        moderate_output: bool = Field(default=True, description="Moderate the model's reply.")
        block_message: str = Field(
            default="This message was blocked by the content policy.",
            description="What the user sees when guardq does not allow the message.",
        )
        show_verdict: bool = Field(
            default=True, description="Append guardq's verdict (e.g. 'Unsafe: Violent')."
        )
        timeout_s: float = Field(default=60.0, gt=0, description="How long to wait for guardq.")
        fail_open: bool = Field(
            default=False, description="Let chats through when guardq cannot be reached."
        )

    def __init__(self) -> None:
        self.valves = self.Valves()

    def _ask(self, messages: list[dict]) -> dict:
        request = urllib.request.Request(
            self.valves.guardq_url.rstrip("/") + "/v1/chat/completions",
            data=json.dumps({"messages": messages}).encode("utf-8"),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.valves.api_key}",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.valves.timeout_s) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                detail = json.load(exc)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                detail = exc.reason
            raise GuardqBlocked(f"guardq refused the check ({exc.code}): {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise GuardqBlocked(f"guardq could not be reached: {exc}") from None

    def _blocked(self, answer: dict) -> str | None:
        """The message to show when guardq's policy does not allow the conversation."""
        guardq = answer.get("guardq") or {}
        if guardq.get("action") == "allow":
            return None
        message = self.valves.block_message
        if self.valves.show_verdict:
            content = answer["choices"][0]["message"]["content"].splitlines()
            verdict = [line.split(":", 1)[1].strip() for line in content[:2]]
            if len(verdict) == 2:
                severity, categories = verdict
                message += f" (guardq: {severity}" + (
                    f": {categories})" if categories != "None" else ")"
                )
        return message

    async def _check(self, messages: list[dict]) -> str | None:
        try:
            answer = await asyncio.to_thread(self._ask, messages)
        except GuardqBlocked as exc:
            if self.valves.fail_open:
                return None
            return f"{self.valves.block_message} ({exc})"
        return self._blocked(answer)

    async def inlet(self, body: dict, __user__: dict | None = None) -> dict:
        """Moderate the last user message before the model sees it."""
        messages = body.get("messages") or []
        index = _last(messages, "user")
        if not self.valves.moderate_input or index is None:
            return body
        text = _text(messages[index].get("content"))
        if not text.strip():
            return body
        blocked = await self._check([{"role": "user", "content": text}])
        if blocked:
            raise GuardqBlocked(blocked)
        return body

    async def outlet(self, body: dict, __user__: dict | None = None) -> dict:
        """Moderate the model's last reply together with the user message it answers."""
        messages = body.get("messages") or []
        reply = _last(messages, "assistant")
        prompt = _last(messages, "user", before=reply) if reply is not None else None
        if not self.valves.moderate_output or reply is None or prompt is None:
            return body
        question = _text(messages[prompt].get("content"))
        answer = _text(messages[reply].get("content"))
        if not question.strip() or not answer.strip():
            return body
        blocked = await self._check(
            [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        )
        if blocked:
            messages[reply]["content"] = blocked
            raise GuardqBlocked(blocked)
        return body
