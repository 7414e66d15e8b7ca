"""OpenAI's official Python client against conjure's team gateway, used unchanged.

Run by crates/conjure-gateway/tests/it/sdks.rs with GATEWAY_BASE_URL (the gateway's `/v1`
URL), GATEWAY_API_KEY (a member's key, pre-approved for the calls below) and
GATEWAY_LIMITED_KEY (a member's key pre-approved for nothing) in the environment. It checks a
whole answer, a stream with usage in its last chunk carrying the same text, a vision message
with a data-URL image, the model list, and
the errors the client raises for a request above the member's limit (402, with the approval
link in the message) and for a wrong key (401). Prints a JSON summary on its last stdout line;
any failed check exits non-zero.
"""

import base64
import json
import os
import sys

import openai
from openai import OpenAI

BASE = os.environ["GATEWAY_BASE_URL"]
KEY = os.environ["GATEWAY_API_KEY"]
LIMITED = os.environ["GATEWAY_LIMITED_KEY"]
MODEL = "grok-4-3"
PROMPT = "Hello through the gateway — «merci» 👋"
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def check(condition, message):
    if not condition:
        print(f"check failed: {message}", file=sys.stderr)
        sys.exit(1)


def main():
    # A paid call is never retried: a retry would pay twice.
    client = OpenAI(base_url=BASE, api_key=KEY, max_retries=0, timeout=60.0)
    messages = [{"role": "user", "content": PROMPT}]

    whole = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=300)
    content = whole.choices[0].message.content
    check(whole.object == "chat.completion", f"object {whole.object}")
    check(PROMPT in content, content)
    check(whole.choices[0].finish_reason == "stop", whole.choices[0].finish_reason)
    imgnai = whole.usage.model_dump().get("imgnai") or {}
    check(imgnai.get("credits_charged", 0) > 0, f"usage.imgnai {imgnai}")

    stream = client.chat.completions.create(
        model=MODEL,
        messages=messages,
        max_tokens=300,
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
    check(last.usage.prompt_tokens == whole.usage.prompt_tokens, f"{last.usage} vs {whole.usage}")

    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode("ascii")
    vision = client.chat.completions.create(
        model=MODEL,
        max_tokens=300,
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": data_url}},
        ]}],
    )
    check("1 image" in vision.choices[0].message.content, vision.choices[0].message.content)

    models = client.models.list()
    ids = [m.id for m in models.data]
    check(MODEL in ids, ids)

    errors = {}
    limited = OpenAI(base_url=BASE, api_key=LIMITED, max_retries=0, timeout=60.0)
    try:
        limited.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "over"}])
        check(False, "a request above the limit went through")
    except openai.APIStatusError as e:
        errors["over_limit"] = [e.status_code, "/approve/" in str(e)]
    wrong = OpenAI(base_url=BASE, api_key="cjm_not_a_key", max_retries=0, timeout=60.0)
    try:
        wrong.chat.completions.create(model=MODEL, messages=messages)
        check(False, "a wrong key went through")
    except openai.AuthenticationError as e:
        errors["wrong_key"] = [e.status_code]

    print(json.dumps({
        "client_version": openai.__version__,
        "chunks": chunks,
        "whole_job": (whole.model_extra or {}).get("conjure", {}).get("job"),
        "errors": errors,
    }))


if __name__ == "__main__":
    main()
