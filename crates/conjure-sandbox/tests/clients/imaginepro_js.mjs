// ImaginePro's official JS/TS SDK against the conjure sandbox, unchanged.
//
// Run by crates/conjure-sandbox/tests/it/clients.rs with node and, in the environment,
// IMAGINEPRO_JS_SDK (the compiled SDK, target/js-clients/imaginepro/index.js),
// SANDBOX_BASE_URL (the sandbox's root URL; the SDK appends /api/v1 itself), SANDBOX_API_KEY
// (an ImaginePro key of the sandbox) and SANDBOX_FETCH_INTERVAL_MS (the SDK's default is 2000).
//
// The SDK is vendored (npm has no `imaginepro` package; see imaginepro-js-sdk/README.md).
// Which SDK version has what: imagine, fetchMessage(Once), pressButton, upscale, variant,
// reroll and inpainting since 1.0.3 (2025-05); geminiImagine, generateVideo, extendVideo and
// fetchVideoMessage(Once) since 2025-10-10 (314ccb2); universalImagine since 2025-11-21
// (c731800), the version vendored. The newer methods are used when present, so the script also
// runs against an older build; the summary lists which ones ran.
//
// The SDK logs every fetch with console.log, so the JSON summary for the Rust side is the LAST
// line of stdout. Any failed check exits non-zero.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const sdkModule = require(process.env.IMAGINEPRO_JS_SDK);
const ImagineProSDK = sdkModule.default ?? sdkModule.ImagineProSDK;
const { Button } = sdkModule;

const baseUrl = process.env.SANDBOX_BASE_URL;
const apiKey = process.env.SANDBOX_API_KEY;
const fetchInterval = Number(process.env.SANDBOX_FETCH_INTERVAL_MS ?? '2000');

function check(condition, what) {
  if (!condition) {
    console.error(`check failed: ${typeof what === 'string' ? what : JSON.stringify(what)}`);
    process.exit(1);
  }
}

async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error.message;
  }
  check(false, 'the call did not reject');
  return null;
}

const sdk = new ImagineProSDK({ apiKey, baseUrl, fetchInterval, defaultTimeout: 60000 });

async function done(submitted, fetch = (id) => sdk.fetchMessage(id)) {
  check(submitted.success === true && typeof submitted.messageId === 'string', submitted);
  const message = await fetch(submitted.messageId);
  check(message.status === 'DONE', message);
  check(message.progress === 100, message);
  check(message.uri === message.images[0], message);
  return message;
}

const ran = ['imagine', 'fetchMessageOnce', 'fetchMessage', 'upscale', 'variant', 'reroll', 'inpainting', 'pressButton'];

const submitted = await sdk.imagine({ prompt: 'a lighthouse at dusk', ref: 'js-1', unknownField: true });
const first = await sdk.fetchMessageOnce(submitted.messageId);
check(first.status === 'QUEUED' || first.status === 'PROCESSING', first);
const grid = await done(submitted);
check(grid.images.length === 4 && grid.ref === 'js-1', grid);
check(grid.buttons.includes(Button.REROLL), grid);

const upscaled = await done(await sdk.upscale({ messageId: grid.messageId, index: 4 }));
check(upscaled.originatingMessageId === grid.messageId && upscaled.images.length === 1, upscaled);
const variant = await done(await sdk.variant({ messageId: grid.messageId, index: 2, ref: 'js-v' }));
check(variant.ref === 'js-v' && variant.images.length === 4, variant);
const reroll = await done(await sdk.reroll({ messageId: grid.messageId }));
check(reroll.originatingMessageId === grid.messageId, reroll);
const inpainted = await done(
  await sdk.inpainting({ messageId: upscaled.messageId, mask: 'https://example.com/mask.png', prompt: 'a red roof' }),
);
check(inpainted.prompt === 'a red roof', inpainted);
const panned = await done(await sdk.pressButton({ messageId: upscaled.messageId, button: Button.PAN_LEFT }));
check(panned.originatingMessageId === upscaled.messageId, panned);
const children = [upscaled, variant, reroll, inpainted, panned].map((m) => m.messageId);

const contents = [
  { type: 'text', text: 'Image creation: a paper boat' },
  { type: 'image', url: 'https://example.com/boat.png' },
];
if (typeof sdk.universalImagine === 'function') {
  const universal = await done(await sdk.universalImagine({ contents, model: 'nano-banana-2', ref: 'js-u' }));
  check(universal.ref === 'js-u' && universal.images.length === 1, universal);
  ran.push('universalImagine');
}
if (typeof sdk.geminiImagine === 'function') {
  await done(await sdk.geminiImagine({ contents }));
  ran.push('geminiImagine');
}
if (typeof sdk.generateVideo === 'function') {
  const video = await done(
    await sdk.generateVideo({
      prompt: 'smooth motion transition',
      startFrameUrl: 'https://example.com/a.png',
      endFrameUrl: 'https://example.com/b.png',
      timeout: 900,
    }),
    (id) => sdk.fetchVideoMessage(id),
  );
  check(video.videoUrl === video.results[0].url && video.results.length === 4, video);
  const extended = await done(
    await sdk.extendVideo({ messageId: video.messageId, index: 1 }),
    (id) => sdk.fetchVideoMessage(id),
  );
  check(extended.originatingMessageId === video.messageId, extended);
  ran.push('generateVideo', 'fetchVideoMessage', 'extendVideo');
}

const wrongKey = new ImagineProSDK({ apiKey: 'sk-not-a-key', baseUrl, fetchInterval });
const errors = {
  bad_key: await rejection(wrongKey.imagine({ prompt: 'p' })),
  bad_key_fetch: await rejection(wrongKey.fetchMessageOnce(grid.messageId)),
  unknown_id: await rejection(sdk.fetchMessageOnce('00000000-0000-4000-8000-000000000000')),
  not_offered: await rejection(sdk.upscale({ messageId: upscaled.messageId, index: 1 })),
};

console.log(JSON.stringify({ grid: grid.messageId, first_status: first.status, children, ran, errors }));
