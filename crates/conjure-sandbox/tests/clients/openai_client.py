"""OpenAI's official Python client against the conjure sandbox, used unchanged.

Run by crates/conjure-sandbox/tests/it/clients.rs with SANDBOX_BASE_URL (the sandbox's
`/v1` URL) and SANDBOX_API_KEY (`key:secret`) in the environment. It checks what an ordinary
OpenAI-compatible client relies on (a whole answer, a stream with usage in its last chunk and
the same bytes as the whole answer, a vision message with a data-URL image, the model list,
errors raised as the client's own exception types) and prints a JSON summary on stdout for
the Rust side to check against conjure's billing arithmetic. Any failed check exits non-zero.
"""

import base64
import json
import os
import sys

import openai
from openai import OpenAI

BASE = os.environ["SANDBOX_BASE_URL"]
KEY = os.environ["SANDBOX_API_KEY"]
MODEL = "grok-4-3"
PROMPT = "Say hello to the official client — «merci» 👋"
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def check(condition, message):
    if not condition:
        print(f"check failed: {message}", file=sys.stderr)
        sys.exit(1)


def usage_dict(usage):
    return usage.model_dump() if usage is not None else None


def main():
    # A paid call is never retried: a retry would pay twice.
    client = OpenAI(base_url=BASE, api_key=KEY, max_retries=0, timeout=30.0)
    messages = [{"role": "user", "content": PROMPT}]

    whole = client.chat.completions.create(model=MODEL, messages=messages)
    content = whole.choices[0].message.content
    check(whole.object == "chat.completion", f"object {whole.object}")
    check(whole.model == MODEL, f"model {whole.model}")
    check(whole.id.startswith("chatcmpl-"), f"id {whole.id}")
    check(content.startswith(f"[conjure sandbox] placeholder answer from {MODEL} — not a real model."), content)
    check("«Say hello to the official client — «merci» 👋»" in content, content)
    check(whole.choices[0].finish_reason == "stop", whole.choices[0].finish_reason)
    check(whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens, "total")
    imgnai = whole.usage.model_dump().get("imgnai") or {}
    check(imgnai.get("billing_source") == "api_key", f"usage.imgnai {imgnai}")

    stream = client.chat.completions.create(
        model=MODEL,
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, chunks, last = [], None, 0, None
    for chunk in stream:
        chunks += 1
        last = chunk
        check(chunk.object == "chat.completion.chunk", chunk.object)
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    streamed = "".join(pieces)
    check(streamed.encode("utf-8") == content.encode("utf-8"), f"streamed {streamed!r} != {content!r}")
    check(finish == "stop", f"finish {finish}")
    check(last is not None and last.choices == [] and last.usage is not None, f"last chunk {last}")
    check(usage_dict(last.usage) == usage_dict(whole.usage), f"{last.usage} != {whole.usage}")

    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode("ascii")
    vision = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": data_url}},
                ],
            }
        ],
        max_tokens=200,
    )
    vision_content = vision.choices[0].message.content
    check(f"It received 1 image ({len(PNG)} bytes inline)" in vision_content, vision_content)

    models = client.models.list()
    ids = [m.id for m in models.data]
    check(MODEL in ids and "gpt-image-2" in ids, f"models {ids[:5]}…")

    errors = {}
    try:
        client.chat.completions.create(model="no-such-model", messages=messages)
        check(False, "an unknown model must raise")
    except openai.BadRequestError as e:
        errors["unknown_model"] = [e.status_code, e.body]
    bad_key = OpenAI(base_url=BASE, api_key="wrong:secret", max_retries=0, timeout=30.0)
    try:
        bad_key.chat.completions.create(model=MODEL, messages=messages)
        check(False, "a wrong key must raise")
    except openai.AuthenticationError as e:
        errors["wrong_key"] = [e.status_code, e.body]

    print(
        json.dumps(
            {
                "client_version": openai.__version__,
                "whole": {"content": content, "usage": usage_dict(whole.usage)},
                "stream": {"chunks": chunks, "usage": usage_dict(last.usage)},
                "vision": {"content": vision_content, "usage": usage_dict(vision.usage)},
                "models": len(ids),
                "errors": errors,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
