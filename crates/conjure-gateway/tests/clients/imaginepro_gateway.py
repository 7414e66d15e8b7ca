"""ImaginePro's official Python SDK (PyPI `imaginepro` 0.1.0) against conjure's team gateway,
unchanged.

Run by crates/conjure-gateway/tests/it/sdks.rs with GATEWAY_BASE_URL (the gateway's root URL;
the SDK appends /api/v1 itself), GATEWAY_API_KEY (a member's key, pre-approved for the calls
below), GATEWAY_OTHER_KEY (another member's key) and GATEWAY_FETCH_INTERVAL in the environment.
It walks imagine, fetch_message_once and fetch_message until DONE, upscale and variant on the
result, and the errors the SDK raises (the body's `error` field) for a wrong key, another
member's message, an unpriced button under a budget (a reroll) and a button the message does
not offer. The SDK prints its own "Error ..." lines on stdout, so the JSON summary is the LAST
line of stdout. Any failed check exits non-zero.
"""

import json
import os
import sys

import imaginepro
from imaginepro import (
    ImagineParams,
    ImagineProSDK,
    ImagineProSDKOptions,
    RerollParams,
    UpscaleParams,
    VariantParams,
)

BASE = os.environ["GATEWAY_BASE_URL"]
KEY = os.environ["GATEWAY_API_KEY"]
OTHER = os.environ["GATEWAY_OTHER_KEY"]
INTERVAL = float(os.environ.get("GATEWAY_FETCH_INTERVAL", "2"))


def check(condition, message):
    if not condition:
        print(f"check failed: {message}", file=sys.stderr)
        sys.exit(1)


def raised(call):
    """The text of the exception `call` raises (the SDK raises a bare Exception)."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - the SDK raises plain Exception
        return str(error)
    check(False, "the call did not raise")
    return None


def sdk_for(key):
    options = ImagineProSDKOptions(api_key=key, base_url=BASE, fetch_interval=INTERVAL, default_timeout=60)
    return ImagineProSDK(options)


def wait(sdk, message_id):
    done = sdk.fetch_message(message_id, timeout=60)
    check(done["status"] == "DONE", f"{message_id}: {done}")
    check(done["progress"] == 100, done)
    check(done["uri"] == done["images"][0], done)
    return done


def main():
    sdk = sdk_for(KEY)
    submitted = sdk.imagine(ImagineParams(prompt="a lighthouse at dusk --ar 3:2", ref="py-1", negative_prompt="blur"))
    check(submitted["success"] is True, submitted)
    grid_id = submitted["messageId"]
    first = sdk.fetch_message_once(grid_id)
    check(first["status"] in ("QUEUED", "PROCESSING"), first)
    grid = wait(sdk, grid_id)
    check(len(grid["images"]) == 4, grid)
    check(grid["ref"] == "py-1", grid)
    check("U2" in grid["buttons"], grid)

    upscaled = wait(sdk, sdk.upscale(UpscaleParams(message_id=grid_id, index=2))["messageId"])
    check(upscaled["originatingMessageId"] == grid_id, upscaled)
    variant = wait(sdk, sdk.variant(VariantParams(message_id=grid_id, index=1))["messageId"])
    check(variant["originatingMessageId"] == grid_id, variant)

    other = sdk_for(OTHER)
    errors = {
        "bad_key": raised(lambda: sdk_for("cjm_not_a_key").imagine(ImagineParams(prompt="p"))),
        "other_member_fetch": raised(lambda: other.fetch_message_once(grid_id)),
        "other_member_button": raised(lambda: other.upscale(UpscaleParams(message_id=grid_id, index=1))),
        # ImaginePro publishes no price for a reroll: with a budget in force it is refused.
        "unpriced_reroll": raised(lambda: sdk.reroll(RerollParams(message_id=grid_id))),
        "not_offered": raised(lambda: sdk.upscale(UpscaleParams(message_id=upscaled["messageId"], index=1))),
    }
    print(json.dumps({
        "sdk_version": imaginepro.__version__,
        "first_status": first["status"],
        "children": [upscaled["messageId"], variant["messageId"]],
        "errors": errors,
    }))


if __name__ == "__main__":
    main()
