//! `--gateway URL`: `conjure image`, `conjure video`, `conjure text`, `conjure upscale URL` and
//! `conjure remove-bg` quoted and spent through a team gateway (`conjure serve`) instead of the
//! provider, with the member key (a text answer streams through the gateway to stdout as it
//! arrives).
//!
//! The request is built here as always (the same flags, the same checks); the gateway then
//! prices it (`POST /conjure/v1/quote`, nothing sent) and that quote, with the gateway's
//! token, replaces the local one: the person approves what the gateway will charge against
//! their budgets, and `--approve TOKEN` takes the token the gateway issued. From there the
//! local paid path runs unchanged ([`pay::run_with`]) with the gateway as the provider
//! ([`conjure_app::gateway`]): the job is reserved in the local journal before the one POST
//! to the gateway, then polled and delivered, with the same exit codes and JSON as locally.
//! `conjure wait` and `conjure fetch` with `--gateway` resume and collect such jobs ([`app`]).

use conjure_app::gateway::{GatewayClient, GatewayConnector};
use conjure_app::{App, AppError, Config, Request};
use conjure_core::Order;
use serde_json::Value;

use crate::cli::PayArgs;
use crate::commands::{Ctx, pay};

/// `request` in conjure's own JSON shape, as the gateway takes it.
fn request_json(request: &Request) -> Result<Value, AppError> {
    let (kind, value) = match request {
        Request::Image(r) => ("image", serde_json::to_value(r)),
        Request::Video(r) => ("video", serde_json::to_value(r)),
        Request::Text(r) => ("text", serde_json::to_value(r)),
        Request::Tool(r) => ("tool", serde_json::to_value(r)),
        Request::Payload(_) => {
            return Err(AppError::invalid(
                "Only `image`, `video`, `text`, `upscale URL` and `remove-bg` go through a gateway",
            )
            .hint("run it without --gateway (and without CONJURE_GATEWAY)"));
        }
    };
    let mut value =
        value.map_err(|e| AppError::other(format!("Cannot write the request as JSON: {e}")))?;
    if let Some(o) = value.as_object_mut() {
        o.insert("type".into(), Value::from(kind));
    }
    Ok(value)
}

/// The application with the gateway as every provider, when a gateway is configured: for
/// resuming (`wait`) and collecting (`fetch`) jobs that were sent through it.
pub fn app(ctx: &Ctx) -> Result<Option<App<GatewayConnector>>, AppError> {
    app_for(&ctx.app.config)
}

/// [`app`] for `config` (the MCP server's `wait_job`, `fetch_job` and `job_status`).
pub fn app_for(config: &Config) -> Result<Option<App<GatewayConnector>>, AppError> {
    let Some(url) = config.gateway.as_deref() else { return Ok(None) };
    let client = GatewayClient::new(url, config)?;
    Ok(Some(with_gateway(config, client)))
}

/// The application with `client`'s gateway as every provider.
fn with_gateway(config: &Config, client: GatewayClient) -> App<GatewayConnector> {
    let mut config = config.clone();
    // The gateway's catalogue is the one that prices; nothing asks the provider from here.
    config.catalogue_check = false;
    App::with_connector(config, GatewayConnector(client))
}

/// Prices `request` and pays for it: through the configured team gateway (see [`priced`]),
/// else with this machine's providers.
pub async fn prepare_and_pay(ctx: &Ctx, request: Request, args: &PayArgs) -> anyhow::Result<()> {
    let Some(url) = ctx.app.config.gateway.clone() else {
        let order = ctx.app.prepare(&request)?;
        return pay::run(ctx, order, args).await;
    };
    let priced = priced(&ctx.app, &url, request, args.approval.again).await?;
    // Boxed: the gateway's paid path is a second copy of the large local one.
    Box::pin(run(ctx, priced, args)).await
}

/// A request priced by a team gateway, ready to pay through it.
pub struct Priced {
    /// The local order, carrying the gateway's quote (its price and token) in place of the
    /// local one: the person approves what the gateway will charge against their budgets.
    pub order: Order,
    client: GatewayClient,
    json: Value,
    app_config: Config,
}

impl Priced {
    /// The application that sends this request through the gateway, with the token the
    /// person approved (theirs from an earlier quote, else this quote's): the gateway sends a
    /// token's request once.
    pub fn app(&self, token: Option<&str>) -> App<GatewayConnector> {
        let token = token.unwrap_or(&self.order.quote.token);
        self.client.prepare_submit(token, self.json.clone());
        with_gateway(&self.app_config, self.client.clone())
    }
}

/// `request` quoted by the gateway at `url` (`POST /conjure/v1/quote`, nothing sent): built and
/// checked as locally, then priced by the gateway, which must have priced the same request.
///
/// The gateway cannot read this disk, so it is sent the request with its local files inlined
/// as `data:` URLs; the local order keeps them as files, by their hash, so that the journal
/// holds references rather than the bytes (a request's fingerprint counts an input by its
/// content, so both forms are the same request).
pub async fn priced(
    app: &App,
    url: &str,
    request: Request,
    again: bool,
) -> Result<Priced, AppError> {
    let mut order = app.prepare(&request)?;
    let mut inline = request;
    conjure_app::gateway::inline_local_inputs(&mut inline)?;
    let json = request_json(&inline)?;
    let client = GatewayClient::new(url, &app.config)?;
    let quote = client.quote(&json, again).await?;
    if quote.fingerprint != order.quote.fingerprint {
        return Err(AppError::other(
            "The gateway priced a different request than this conjure built; nothing was sent",
        )
        .hint("use a conjure of the gateway's version (`conjure --version`, and ask its admin)"));
    }
    order.quote = quote;
    Ok(Priced { order, client, json, app_config: app.config.clone() })
}

/// Takes a request `priced` by the gateway down the paid path with the gateway as its
/// provider.
async fn run(ctx: &Ctx, priced: Priced, args: &PayArgs) -> anyhow::Result<()> {
    let app = priced.app(args.approval.approve.as_deref());
    pay::run_with(ctx, &app, priced.order, args).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_travel_in_the_shape_the_gateway_reads_back() {
        let image = Request::Image(conjure_app::ImageRequest::new("a fox"));
        let json = request_json(&image).unwrap();
        assert_eq!(json["type"], "image");
        assert_eq!(serde_json::from_value::<Request>(json).unwrap(), image);
        let video = Request::Video(conjure_app::VideoRequest::new("waves"));
        assert_eq!(
            serde_json::from_value::<Request>(request_json(&video).unwrap()).unwrap(),
            video
        );
        let text = Request::Text(conjure_app::TextRequest::new("why?"));
        let json = request_json(&text).unwrap();
        assert_eq!(json["type"], "text");
        assert_eq!(serde_json::from_value::<Request>(json).unwrap(), text);
        for tool in [conjure_app::ToolName::Upscale, conjure_app::ToolName::RemoveBg] {
            let request = Request::Tool(conjure_app::ToolRequest {
                provider: conjure_core::ProviderId::ImaginePro,
                tool,
                image: "https://example.com/a.png".into(),
                scale: Some(3),
                hooks: conjure_core::spec::Hooks::default(),
            });
            let json = request_json(&request).unwrap();
            assert_eq!(json["type"], "tool");
            assert_eq!(serde_json::from_value::<Request>(json).unwrap(), request);
        }
    }
}
