//! The Telegram edge: the token, the bot's dispatcher and its commands. The only module
//! that uses teloxide. Everything the commands do goes through the core, the job runner
//! and the publisher; start-up and the process around it live in `application`.

pub mod admin;
pub mod context;
pub mod ephemeral;
pub mod member;
pub mod schema;
pub mod subscribe;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use teloxide::dispatching::Dispatcher;
use teloxide::prelude::*;
use teloxide::update_listeners::Polling;
use teloxide::utils::command::BotCommands;
use tokio::sync::watch;

use crate::publish::botapi::{ApiError, BotApi};
use crate::settings::TelegramSettings;
pub use context::BotContext;
use schema::{ADMIN_COMMANDS, Command};

/// Environment variables the token is read from, in order.
pub const TOKEN_VARS: &[&str] = &["ECOBRIEF_BOT_TOKEN", "TELOXIDE_TOKEN"];

/// The bot token from the environment; `None` when unset or empty.
pub fn token_from_env() -> Option<String> {
    TOKEN_VARS
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|t| t.trim().to_string())
        .find(|t| !t.is_empty())
}

/// Why the Bot API could not be reached with our token.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Missing or rejected token: the operator must fix the token.
    #[error("{0}")]
    Token(String),
    /// No answer, or not the Bot API: the operator must fix the URL or the network.
    #[error("{0}")]
    Unreachable(String),
}

/// Builds the Bot API client and checks the token with getMe. Errors are one line for
/// the operator and never contain the token.
pub async fn connect(
    telegram: &TelegramSettings,
    token: Option<&str>,
) -> Result<(BotApi, String), ConnectError> {
    let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
        return Err(ConnectError::Token(format!(
            "no bot token: set {} (from @BotFather) in the environment",
            TOKEN_VARS[0]
        )));
    };
    let api = BotApi::new(telegram.api_url.as_str(), token, telegram.request_timeout)
        .map_err(|e| ConnectError::Unreachable(e.to_string()))?;
    match api.get_me().await {
        Ok(username) => Ok((api, username)),
        Err(ApiError::Unauthorized) => Err(ConnectError::Token(format!(
            "the bot token in {} was rejected by Telegram (401); check it with @BotFather",
            TOKEN_VARS[0]
        ))),
        Err(e) => Err(ConnectError::Unreachable(format!(
            "cannot reach the Bot API at {} (telegram.api_url, or ECOBRIEF_API_URL): {e}; check the URL and the network",
            crate::config::redact_url(telegram.api_url.as_str())
        ))),
    }
}

fn command_list(admin: bool) -> serde_json::Value {
    let commands: Vec<serde_json::Value> = Command::bot_commands()
        .into_iter()
        .map(|c| (c.command.trim_start_matches('/').to_string(), c.description))
        .filter(|(name, _)| admin || !ADMIN_COMMANDS.contains(&name.as_str()))
        .map(|(command, description)| json!({ "command": command, "description": description }))
        .collect();
    json!(commands)
}

/// setMyCommands: member commands for everyone, all of them for chat administrators and
/// for the configured admins' private chats.
pub async fn register_commands(api: &BotApi, admins: &[i64]) {
    let mut calls = vec![
        json!({ "commands": command_list(false) }),
        json!({ "commands": command_list(true), "scope": { "type": "all_chat_administrators" } }),
    ];
    for admin in admins {
        calls.push(json!({ "commands": command_list(true), "scope": { "type": "chat", "chat_id": admin } }));
    }
    for body in calls {
        if let Err(e) = api.call("setMyCommands", &body).await {
            tracing::warn!("setMyCommands: {e}");
        }
    }
}

/// How updates reach the dispatcher.
pub enum Updates {
    /// getUpdates long polling.
    Polling,
    /// Telegram posts them to our server at `url`, with `secret`.
    Webhook {
        url: reqwest::Url,
        secret: String,
        address: std::net::SocketAddr,
    },
}

/// The dispatcher, ready to run until the stop signal.
pub struct Dispatch {
    run: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

/// Logs an error of the update listener (getUpdates, the webhook) as one short line
/// without the token: teloxide's own handler logs the whole upstream body, which a proxy's
/// error page may fill with the request path, token included, on every poll.
struct QuietErrors {
    what: &'static str,
    redactor: crate::redact::Redactor,
}

impl<E: std::fmt::Display> teloxide::error_handlers::ErrorHandler<E> for QuietErrors {
    fn handle_error(self: Arc<Self>, error: E) -> futures_util::future::BoxFuture<'static, ()> {
        let line = self
            .redactor
            .scrub(&crate::redact::one_line(&error.to_string(), 200));
        tracing::warn!("{}: {line}", self.what);
        Box::pin(async {})
    }
}

/// Longest pause between two tries to start dispatching.
const DISPATCH_RETRY_MAX: Duration = Duration::from_secs(60);

/// Longest wait for deleteWebhook, and for the webhook stream, at stop.
const WEBHOOK_STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl Dispatch {
    /// Sets up the dispatcher; in webhook mode calls setWebhook and returns the route
    /// (guarded by our own constant-time secret check) to merge into our server.
    pub async fn prepare(
        ctx: Arc<BotContext>,
        token: &str,
        updates: Updates,
        stop: watch::Receiver<bool>,
    ) -> Result<(Dispatch, Option<axum::Router>), String> {
        let telegram = &ctx.core.settings.telegram;
        let redactor = crate::redact::Redactor::new([token]);
        let bot = Bot::new(token).set_api_url(telegram.api_url.clone());
        let poll_timeout = Duration::from_secs(u64::from(telegram.poll_timeout_seconds));
        let mut dispatcher = Dispatcher::builder(bot.clone(), schema::schema())
            .dependencies(dptree::deps![Arc::clone(&ctx)])
            .default_handler(|_| async {})
            .build();
        let shutdown = dispatcher.shutdown_token();
        let mut stop_watch = stop.clone();
        let stopper = async move {
            let _ = stop_watch.wait_for(|s| *s).await;
            // The dispatcher may not have started yet; try until it takes the request.
            loop {
                match shutdown.shutdown() {
                    Ok(done) => {
                        done.await;
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        };
        match updates {
            Updates::Polling => {
                let mut stop = stop;
                let polling_errors = Arc::new(QuietErrors {
                    what: "getUpdates failed",
                    redactor,
                });
                let run = async move {
                    tokio::spawn(stopper);
                    // teloxide asks getMe again before dispatching; when that fails (a
                    // network blip right after our own check) it is retried here, with
                    // growing pauses, instead of panicking inside teloxide.
                    let mut pause = Duration::from_secs(1);
                    loop {
                        let updates = Polling::builder(bot.clone())
                            .timeout(poll_timeout)
                            .delete_webhook()
                            .await
                            .build();
                        let dispatched = dispatcher
                            .try_dispatch_with_listener(updates, Arc::clone(&polling_errors))
                            .await;
                        let Err(e) = dispatched else { break };
                        tracing::error!(
                            "cannot start receiving updates (getMe failed: {}); retrying in {pause:?}",
                            polling_errors
                                .redactor
                                .scrub(&crate::redact::one_line(&e.to_string(), 200))
                        );
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            _ = stop.wait_for(|s| *s) => break,
                        }
                        pause = (pause * 2).min(DISPATCH_RETRY_MAX);
                    }
                };
                Ok((Dispatch { run: Box::pin(run) }, None))
            }
            Updates::Webhook {
                url,
                secret,
                address,
            } => {
                let options =
                    teloxide::update_listeners::webhooks::Options::new(address, url.clone())
                        .secret_token(secret.clone());
                // setWebhook is called here; the route goes on our server, so one
                // listener serves the API and Telegram's updates.
                let (mut listener, cleanup, router) =
                    teloxide::update_listeners::webhooks::axum_to_router(bot.clone(), options)
                        .await
                        .map_err(|e| {
                            format!("setWebhook for {url} failed: {e}; check telegram.webhook_url")
                        })?;
                tracing::info!("receiving updates by webhook at {url}");
                let run = async move {
                    tokio::spawn(stopper);
                    // Resolves once the listener is stopped, after deleteWebhook.
                    let cleanup = tokio::spawn(cleanup);
                    // The update stream ends when our server drops the webhook route,
                    // which can happen before the dispatcher stops the listener; stopping
                    // it here as well makes sure deleteWebhook is called.
                    let listener_stop =
                        teloxide::update_listeners::UpdateListener::stop_token(&mut listener);
                    let dispatch = async {
                        let dispatched = dispatcher
                            .try_dispatch_with_listener(
                                listener,
                                Arc::new(QuietErrors {
                                    what: "webhook update failed",
                                    redactor,
                                }),
                            )
                            .await;
                        // The listener cannot be made again: updates are not handled until
                        // a restart, and the operator is told so.
                        if let Err(e) = dispatched {
                            tracing::error!(
                                "cannot start handling webhook updates (getMe failed: {e}); restart ecobrief"
                            );
                        }
                    };
                    // That stream only ends once the server lets go of the route, and a
                    // client holding a connection open could delay that indefinitely:
                    // after a stop, the dispatcher gets as long as the server does.
                    let mut stopping = stop;
                    let give_up = async move {
                        let _ = stopping.wait_for(|s| *s).await;
                        tokio::time::sleep(WEBHOOK_STOP_TIMEOUT).await;
                    };
                    tokio::select! {
                        () = dispatch => {}
                        () = give_up => tracing::warn!("webhook updates did not stop in time; going on"),
                    }
                    listener_stop.stop();
                    if tokio::time::timeout(WEBHOOK_STOP_TIMEOUT, cleanup)
                        .await
                        .is_err()
                    {
                        tracing::warn!("deleteWebhook did not finish in time");
                    }
                };
                Ok((
                    Dispatch { run: Box::pin(run) },
                    Some(crate::server::guard_webhook(router, secret)),
                ))
            }
        }
    }

    /// Dispatches updates until the stop signal given to [`Dispatch::prepare`].
    pub async fn run(self) {
        self.run.await;
    }
}
