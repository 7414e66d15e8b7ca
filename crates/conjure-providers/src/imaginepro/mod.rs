//! ImaginePro: the second provider, as pure translators and the network client that sends them.
//!
//! - [`request`]: a [`conjure_core::JobSpec`] becomes the one POST it is, and the button
//!   vocabulary (`U1`, `reroll`, `zoom-out-2x`, ... to the wire's `🔄`, `Zoom Out 2x`, ...).
//! - [`response`]: the submit envelope, the message object (a [`conjure_core::Snapshot`]) and
//!   the `{message, error, statusCode}` error body, classified.
//! - [`client`]: [`ImaginePro`], the `conjure_core::Provider` that sends them: one POST per
//!   submit, Bearer on every call, every answer redacted, video polls falling back to the
//!   message path, and the free prompt expansion ([`ImaginePro::enhance`]).
//!
//! Paths are relative to `/api/v1`, which the client appends to the base URL
//! (`https://api.imaginepro.ai`, or `CONJURE_IMAGINEPRO_BASE_URL`; `http://` only on loopback).
//!
//! Decisions on the spec's open questions (imaginepro-api.md §15), those about requests and
//! answers (the ones about items and prices are in `conjure_core::imaginepro`):
//! - §15.1 path family: the nova family (`/nova/imagine`, `/nova/button`,
//!   `/message/fetch/{id}`), which both official SDKs and the current docs use; the
//!   `/midjourney/*` twins are not used. Not configurable yet: one family is one less thing to
//!   get wrong, and the table keeps both paths should that change.
//! - §15.2 polling: video at `/video/mj/fetch/{id}` (where the JS SDK polls it), falling back
//!   to `/message/fetch/{id}` on a 404; everything else at `/message/fetch/{id}`.
//! - §15.8 `progress` may be a number or a string; both are read, clamped to 0..=100.
//! - §15.9 `QUEUED`, `PROCESSING`, `SUBMITTED` and any unknown status are non-terminal (the
//!   runner's deadline bounds them); only `DONE` and `FAIL` end a job.
//! - §15.10 a 401 is reported as "a bad key or too few credits", never retried.
//! - §15.12 downloads: `images`, else `uri` (`videoUrl`/`results` first for video); the
//!   24-hour `originalUrl` only when there is nothing else.
//! - §15.15 any `FAIL` is terminal with its `error` text.
//! - Nano Banana's prompt is sent as the user wrote it: the helper's "Image creation: " prefix
//!   is the helper's habit, not the API's, and would change what the user approved.
//! - MJ video is sent with `timeout: 900` as the helper does (a video may take 15 minutes).

pub mod client;
pub mod request;
pub mod response;

pub use client::{DEFAULT_BASE_URL, ImaginePro};
pub use request::{build_request, button_name, button_wire, poll_path};
pub use response::{classify_error, parse_message, parse_submit};
