"""ImaginePro's official Python SDK (PyPI `imaginepro` 0.1.0) against the conjure sandbox, unchanged.

Run by crates/conjure-sandbox/tests/it/clients.rs with SANDBOX_BASE_URL (the sandbox's root URL;
the SDK appends /api/v1 itself), SANDBOX_API_KEY (an ImaginePro key of the sandbox) and
SANDBOX_FETCH_INTERVAL (seconds between polls; the SDK's default is 2) in the environment.
It walks what the SDK offers (imagine-spec §14.2): imagine, fetch_message_once and
fetch_message until DONE, upscale / variant / reroll / inpainting / press_button on the result,
and the errors it raises (the body's `error` field) for a bad key, an unknown id and a button
the message does not offer. The SDK prints its own "Error posting data: ..." lines on stdout,
so the JSON summary for the Rust side is the LAST line of stdout. Any failed check exits
non-zero.
"""

import json
import os
import sys

import imaginepro
from imaginepro import (
    ButtonPressParams,
    ImagineParams,
    ImagineProSDK,
    ImagineProSDKOptions,
    InpaintingParams,
    RerollParams,
    UpscaleParams,
    VariantParams,
)

BASE = os.environ["SANDBOX_BASE_URL"]
KEY = os.environ["SANDBOX_API_KEY"]
INTERVAL = float(os.environ.get("SANDBOX_FETCH_INTERVAL", "2"))


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


def wait(sdk, message_id):
    done = sdk.fetch_message(message_id, timeout=60)
    check(done["status"] == "DONE", f"{message_id}: {done}")
    check(isinstance(done["progress"], (int, float)) and done["progress"] == 100, done)
    check(done["uri"] == done["images"][0], done)
    return done


def main():
    sdk = ImagineProSDK(
        ImagineProSDKOptions(api_key=KEY, base_url=BASE, fetch_interval=INTERVAL, default_timeout=60)
    )

    # ImagineParams fields the server may not use reach the wire in camelCase; they are ignored.
    submitted = sdk.imagine(
        ImagineParams(prompt="a lighthouse at dusk --ar 3:2", ref="py-1", negative_prompt="blur", cfg_scale=7.0)
    )
    check(submitted["success"] is True, submitted)
    grid_id = submitted["messageId"]
    first = sdk.fetch_message_once(grid_id)
    check(first["status"] in ("QUEUED", "PROCESSING"), first)
    grid = wait(sdk, grid_id)
    check(len(grid["images"]) == 4, grid)
    check(grid["ref"] == "py-1", grid)
    check("U2" in grid["buttons"] and imaginepro.Button.REROLL in grid["buttons"], grid)

    upscaled = wait(sdk, sdk.upscale(UpscaleParams(message_id=grid_id, index=2))["messageId"])
    check(upscaled["originatingMessageId"] == grid_id, upscaled)
    check(len(upscaled["images"]) == 1, upscaled)
    variant = wait(sdk, sdk.variant(VariantParams(message_id=grid_id, index=1, ref="py-v"))["messageId"])
    check(variant["originatingMessageId"] == grid_id and variant["ref"] == "py-v", variant)
    check(len(variant["images"]) == 4, variant)
    reroll = wait(sdk, sdk.reroll(RerollParams(message_id=grid_id))["messageId"])
    check(reroll["originatingMessageId"] == grid_id, reroll)
    inpainted = wait(
        sdk,
        sdk.inpainting(
            InpaintingParams(message_id=upscaled["messageId"], mask="https://example.com/mask.png", prompt="a red roof")
        )["messageId"],
    )
    check(inpainted["prompt"] == "a red roof", inpainted)
    zoomed = wait(
        sdk, sdk.press_button(ButtonPressParams(message_id=upscaled["messageId"], button="Zoom Out 2x"))["messageId"]
    )
    check(zoomed["originatingMessageId"] == upscaled["messageId"], zoomed)

    wrong_key = ImagineProSDK(ImagineProSDKOptions(api_key="sk-not-a-key", base_url=BASE, fetch_interval=INTERVAL))
    errors = {
        "bad_key": raised(lambda: wrong_key.imagine(ImagineParams(prompt="p"))),
        "bad_key_fetch": raised(lambda: wrong_key.fetch_message_once(grid_id)),
        "unknown_id": raised(lambda: sdk.fetch_message_once("00000000-0000-4000-8000-000000000000")),
        "not_offered": raised(lambda: sdk.upscale(UpscaleParams(message_id=upscaled["messageId"], index=1))),
    }
    summary = {
        "sdk_version": imaginepro.__version__,
        "grid": grid_id,
        "first_status": first["status"],
        "children": [upscaled["messageId"], variant["messageId"], reroll["messageId"], inpainted["messageId"], zoomed["messageId"]],
        "errors": errors,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
