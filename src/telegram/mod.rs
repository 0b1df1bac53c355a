//! The Telegram edge: the token, the bot's long-polling dispatcher and its commands, and
//! the process around them. Everything it does goes through the core (`app`, `publish`).

pub mod admin;
pub mod context;
pub mod member;
pub mod schema;
pub mod subscribe;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use tokio::sync::watch;

use serde_json::json;
use teloxide::dispatching::Dispatcher;
use teloxide::prelude::*;
use teloxide::update_listeners::Polling;
use teloxide::utils::command::BotCommands;

use crate::app::App;
use crate::config::TelegramMode;
use crate::publish::botapi::{ApiError, BotApi};
use crate::publish::{PublishError, Publisher, Trigger};
use crate::schedule::{Scheduler, catch_up, parse_cron};
use context::BotContext;
use schema::{ADMIN_COMMANDS, Command};

/// Environment variables the token is read from, in order.
pub const TOKEN_VARS: &[&str] = &["ECOBRIEF_BOT_TOKEN", "TELOXIDE_TOKEN"];

/// Exit status for a missing or rejected token.
pub const EXIT_TOKEN: u8 = 2;

/// The bot token from the environment; `None` when unset or empty.
pub fn token_from_env() -> Option<String> {
    TOKEN_VARS
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|t| t.trim().to_string())
        .find(|t| !t.is_empty())
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Builds the Bot API client and checks the token with getMe. Errors are one line for
/// the operator and never contain the token.
pub async fn connect(
    telegram: &crate::config::TelegramConfig,
    token: Option<&str>,
) -> Result<(BotApi, String), String> {
    let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
        return Err(format!(
            "no bot token: set {} (from @BotFather) in the environment",
            TOKEN_VARS[0]
        ));
    };
    let api = BotApi::new(
        &telegram.api_url,
        token,
        Duration::from_secs(telegram.request_timeout_seconds.max(1)),
    )
    .map_err(|e| e.to_string())?;
    match api.get_me().await {
        Ok(username) => Ok((api, username)),
        Err(ApiError::Unauthorized) => Err(format!(
            "the bot token in {} was rejected by Telegram (401); check it with @BotFather",
            TOKEN_VARS[0]
        )),
        Err(e) => Err(format!(
            "cannot check the bot token at {}: {e}",
            telegram.api_url
        )),
    }
}

/// `ecobrief publish`: posts one day now through the same path as the schedule.
pub fn publish_once(app: App, date: NaiveDate, force: bool) -> anyhow::Result<ExitCode> {
    // The same lock as `run`: a one-off post while the bot is posting would send the
    // same parts twice.
    let _lock = match lock_instance(&app.config.database) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    runtime()?.block_on(async move {
        let (api, _) = match connect(&app.config.telegram, token_from_env().as_deref()).await {
            Ok(c) => c,
            Err(line) => {
                eprintln!("error: {line}");
                return Ok(ExitCode::from(EXIT_TOKEN));
            }
        };
        let telegram = app.config.telegram.clone();
        let (_stop, stopping) = watch::channel(false);
        let publisher = Publisher::new(Arc::new(Mutex::new(app)), api, telegram, stopping);
        match publisher.publish(date, Trigger::CommandLine, force).await {
            Ok(report) => {
                println!("{}", report.summary());
                Ok(if report.complete() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            Err(e @ PublishError::AlreadyPosted(_)) => {
                eprintln!("{e}");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        }
    })
}

/// Why `ecobrief run` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Missing or rejected token: exit status 2.
    #[error("{0}")]
    Token(String),
    #[error("{0}")]
    AlreadyRunning(String),
    #[error(transparent)]
    Schedule(#[from] crate::schedule::ScheduleError),
    #[error("telegram.api_url {0:?} is not a URL")]
    BadApiUrl(String),
    /// The HTTP server could not listen.
    #[error("{0}")]
    Listen(String),
    /// Webhook mode is misconfigured or Telegram refused the webhook.
    #[error("webhook mode: {0}")]
    Webhook(String),
}

/// How [`serve_with`] runs besides the config.
#[derive(Debug, Default)]
pub struct ServeOptions {
    /// The bot token (from @BotFather).
    pub token: Option<String>,
    /// The API token and webhook secret; `ecobrief run` reads them from the environment.
    pub secrets: crate::server::Secrets,
    /// A listener already bound for the HTTP server (tests bind port 0 and read the port);
    /// `None` binds `server.listen`.
    pub listener: Option<tokio::net::TcpListener>,
}

/// Longest wait for the HTTP server to finish its requests in flight at stop.
const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for deleteWebhook at stop.
const WEBHOOK_DELETE_TIMEOUT: Duration = Duration::from_secs(10);

/// Webhook mode's settings, checked before anything is started.
fn webhook_settings(
    config: &crate::config::Config,
    secret: Option<&str>,
) -> Result<(reqwest::Url, String), ServeError> {
    if !config.server.enabled {
        return Err(ServeError::Webhook(
            "telegram.mode = \"webhook\" needs the HTTP server: set server.enabled = true"
                .to_string(),
        ));
    }
    let Some(url) = config
        .telegram
        .webhook_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    else {
        return Err(ServeError::Webhook(
            "set telegram.webhook_url to the public HTTPS URL Telegram should post updates to"
                .to_string(),
        ));
    };
    let url = reqwest::Url::parse(url.trim()).map_err(|e| {
        ServeError::Webhook(format!("telegram.webhook_url {url:?} is not a URL: {e}"))
    })?;
    crate::server::check_webhook_path(url.path())
        .map_err(|e| ServeError::Webhook(format!("telegram.webhook_url: {e}")))?;
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Err(ServeError::Webhook(format!(
            "set {} in the environment: Telegram sends it with every update, and requests \
             without it are refused",
            crate::server::WEBHOOK_SECRET_VAR
        )));
    };
    crate::server::check_webhook_secret(secret).map_err(ServeError::Webhook)?;
    Ok((url, secret.to_string()))
}

/// Holds `<database>.lock` for as long as the bot runs: two instances on one store are
/// the classic cause of double posts.
pub struct InstanceLock {
    _file: std::fs::File,
}

pub fn lock_instance(database: &std::path::Path) -> Result<InstanceLock, ServeError> {
    let mut path = database.as_os_str().to_owned();
    path.push(".lock");
    let path = std::path::PathBuf::from(path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            ServeError::AlreadyRunning(format!("cannot open lock file {}: {e}", path.display()))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(InstanceLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServeError::AlreadyRunning(format!(
            "another `ecobrief run` is already using {} (lock {}); stop it first",
            database.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(ServeError::AlreadyRunning(format!(
            "cannot lock {}: {e}",
            path.display()
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
async fn register_commands(api: &BotApi, admins: &[i64]) {
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

/// [`serve_with`] without secrets and with `server.listen` bound as configured: the items
/// API answers 503 and webhook mode refuses to start.
pub async fn serve(
    app: App,
    token: Option<String>,
    stop: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let options = ServeOptions {
        token,
        ..ServeOptions::default()
    };
    serve_with(app, options, stop).await
}

/// Runs the bot until `stop` turns true: updates by long polling or webhook, commands, the
/// schedule, catch-up, resuming an interrupted post, and the HTTP server. Used by
/// `ecobrief run` and by the tests.
pub async fn serve_with(
    app: App,
    options: ServeOptions,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let ServeOptions {
        token,
        secrets,
        listener,
    } = options;
    let config = app.config.clone();
    let _lock = lock_instance(&config.database)?;
    let publish_cron = parse_cron("publish_cron", &config.schedule.publish_cron)?;
    // Configuration and the port first: they fail fast, before Telegram is contacted.
    let webhook = match config.telegram.mode {
        TelegramMode::Webhook => Some(webhook_settings(
            &config,
            secrets.webhook_secret.as_deref(),
        )?),
        TelegramMode::Polling => None,
    };
    let listener = match (config.server.enabled, listener) {
        (false, _) => None,
        (true, Some(listener)) => Some(listener),
        (true, None) => Some(
            crate::server::bind(&config.server.listen)
                .await
                .map_err(ServeError::Listen)?,
        ),
    };
    let (api, username) = connect(&config.telegram, token.as_deref())
        .await
        .map_err(ServeError::Token)?;
    let token = token.unwrap_or_default();
    let url = reqwest::Url::parse(config.telegram.api_url.trim_end_matches('/'))
        .map_err(|_| ServeError::BadApiUrl(config.telegram.api_url.clone()))?;
    register_commands(&api, &config.telegram.admins).await;

    let shared = Arc::new(Mutex::new(app));
    // getMe just answered: Telegram is reachable.
    crate::publish::with_app(&shared, |a| a.metrics.set_telegram_reachable(true));
    let publisher = Arc::new(Publisher::new(
        Arc::clone(&shared),
        api,
        config.telegram.clone(),
        stop.clone(),
    ));
    let ctx = Arc::new(BotContext::new(
        Arc::clone(&publisher),
        config.clone(),
        username,
    ));
    let tz = config.tz();

    let bot = Bot::new(token).set_api_url(url);
    let mut router = None;
    let mut webhook_listener = None;
    let mut webhook_cleanup = None;
    if let Some(listener) = &listener {
        let state = crate::server::ServerState::new(Arc::clone(&shared), secrets.api_token);
        let mut ours = crate::server::router(state);
        if let Some((url, secret)) = webhook {
            let address = listener.local_addr().map_err(|e| {
                ServeError::Listen(format!("the HTTP server's address is unknown: {e}"))
            })?;
            let options = teloxide::update_listeners::webhooks::Options::new(address, url.clone())
                .secret_token(secret.clone());
            // setWebhook is called here; the route goes on our server, so one listener
            // serves the API and Telegram's updates.
            let (updates, cleanup, webhook_router) =
                teloxide::update_listeners::webhooks::axum_to_router(bot.clone(), options)
                    .await
                    .map_err(|e| {
                        ServeError::Webhook(format!(
                            "setWebhook for {url} failed: {e}; check telegram.webhook_url"
                        ))
                    })?;
            ours = ours.merge(crate::server::guard_webhook(webhook_router, secret));
            webhook_listener = Some(updates);
            // Resolves once the listener is stopped, after calling deleteWebhook.
            webhook_cleanup = Some(tokio::spawn(cleanup));
            tracing::info!("receiving updates by webhook at {url}");
        }
        router = Some(ours);
    }
    let mut scheduler = if config.schedule.enabled {
        Some(Scheduler::start(Arc::clone(&publisher), &config).await?)
    } else {
        None
    };
    // Started last of what can fail, so an error above leaves nothing running.
    let server = match (listener, router) {
        (Some(listener), Some(router)) => {
            let address = listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            tracing::info!("HTTP server listening on {address}");
            Some(tokio::spawn(crate::server::serve(
                listener,
                router,
                stop.clone(),
            )))
        }
        _ => None,
    };
    // An interrupted post first, then a publish time missed while we were down.
    let startup = {
        let publisher = Arc::clone(&publisher);
        let grace = Duration::from_secs(config.schedule.catch_up_hours * 3600);
        let enabled = config.schedule.enabled;
        tokio::spawn(async move {
            let today = crate::schedule::publish_date(chrono::Utc::now(), tz);
            publisher.resume_unfinished(today).await;
            if enabled && !*publisher.stop_signal().borrow() {
                catch_up(&publisher, &publish_cron, tz, chrono::Utc::now(), grace).await;
            }
        })
    };

    let mut dispatcher = Dispatcher::builder(bot.clone(), schema::schema())
        .dependencies(dptree::deps![Arc::clone(&ctx)])
        .default_handler(|_| async {})
        .build();
    let shutdown = dispatcher.shutdown_token();
    let stop_for_webhook = stop.clone();
    tokio::spawn(async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
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
    });
    tracing::info!("ecobrief is running");
    match webhook_listener {
        Some(mut updates) => {
            // The update stream ends when our server drops the webhook route, which can
            // happen before the dispatcher stops the listener; stopping it here as well
            // makes sure deleteWebhook is called.
            let listener_stop =
                teloxide::update_listeners::UpdateListener::stop_token(&mut updates);
            let dispatch = dispatcher.dispatch_with_listener(
                updates,
                teloxide::error_handlers::LoggingErrorHandler::with_custom_text(
                    "webhook update failed",
                ),
            );
            // That stream only ends once the server lets go of the route, and a client
            // holding a connection open could delay that indefinitely: after a stop, the
            // dispatcher gets as long as the server does.
            let mut stopping = stop_for_webhook;
            let give_up = async move {
                let _ = stopping.wait_for(|s| *s).await;
                tokio::time::sleep(SERVER_STOP_TIMEOUT).await;
            };
            tokio::select! {
                () = dispatch => {}
                () = give_up => tracing::warn!("webhook updates did not stop in time; going on"),
            }
            listener_stop.stop();
        }
        None => {
            let updates = Polling::builder(bot)
                .timeout(Duration::from_secs(u64::from(
                    config.telegram.poll_timeout_seconds,
                )))
                .delete_webhook()
                .await
                .build();
            dispatcher
                .dispatch_with_listener(
                    updates,
                    teloxide::error_handlers::LoggingErrorHandler::with_custom_text(
                        "getUpdates failed",
                    ),
                )
                .await;
        }
    }

    // Stopping: no new parts are started; the one in flight finishes and is recorded.
    if let Some(s) = scheduler.take() {
        s.stop().await;
    }
    // The startup work stops between parts once asked; give it time to record the part
    // in flight rather than cutting it off mid-request.
    if tokio::time::timeout(Duration::from_secs(40), startup)
        .await
        .is_err()
    {
        tracing::warn!("startup work did not stop in time");
    }
    publisher.idle().await;
    if let Some(cleanup) = webhook_cleanup
        && tokio::time::timeout(WEBHOOK_DELETE_TIMEOUT, cleanup)
            .await
            .is_err()
    {
        tracing::warn!("deleteWebhook did not finish in time");
    }
    if let Some(mut server) = server {
        // The server stops on the same signal; a client holding a request open must not
        // keep the process alive.
        match tokio::time::timeout(SERVER_STOP_TIMEOUT, &mut server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!("HTTP server: {e}"),
            Ok(Err(e)) => tracing::error!("HTTP server task: {e}"),
            Err(_) => {
                tracing::warn!("HTTP server did not stop in time; closing it");
                server.abort();
            }
        }
    }
    tracing::info!("ecobrief stopped");
    Ok(())
}

/// `ecobrief run`: serves until SIGINT or SIGTERM.
pub fn run(app: App) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stop requested; finishing the message in flight");
            let _ = stop_tx.send(true);
        });
        let options = ServeOptions {
            token: token_from_env(),
            secrets: crate::server::Secrets::from_env(),
            listener: None,
        };
        match serve_with(app, options, stop_rx).await {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(ServeError::Token(line)) => {
                eprintln!("error: {line}");
                Ok(ExitCode::from(EXIT_TOKEN))
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::FAILURE)
            }
        }
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
