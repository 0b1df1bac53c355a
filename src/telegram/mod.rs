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

/// Runs the bot until `stop` turns true: long polling, commands, the schedule, catch-up
/// and resuming an interrupted post. Used by `ecobrief run` and by the tests.
pub async fn serve(
    app: App,
    token: Option<String>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let config = app.config.clone();
    let _lock = lock_instance(&config.database)?;
    let publish_cron = parse_cron("publish_cron", &config.schedule.publish_cron)?;
    let (api, username) = connect(&config.telegram, token.as_deref())
        .await
        .map_err(ServeError::Token)?;
    let token = token.unwrap_or_default();
    let url = reqwest::Url::parse(config.telegram.api_url.trim_end_matches('/'))
        .map_err(|_| ServeError::BadApiUrl(config.telegram.api_url.clone()))?;
    register_commands(&api, &config.telegram.admins).await;

    let publisher = Arc::new(Publisher::new(
        Arc::new(Mutex::new(app)),
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

    let mut scheduler = if config.schedule.enabled {
        Some(Scheduler::start(Arc::clone(&publisher), &config).await?)
    } else {
        None
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

    let bot = Bot::new(token).set_api_url(url);
    let listener = Polling::builder(bot.clone())
        .timeout(Duration::from_secs(u64::from(
            config.telegram.poll_timeout_seconds,
        )))
        .delete_webhook()
        .await
        .build();
    let mut dispatcher = Dispatcher::builder(bot, schema::schema())
        .dependencies(dptree::deps![Arc::clone(&ctx)])
        .default_handler(|_| async {})
        .build();
    let shutdown = dispatcher.shutdown_token();
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
    dispatcher
        .dispatch_with_listener(
            listener,
            teloxide::error_handlers::LoggingErrorHandler::with_custom_text("getUpdates failed"),
        )
        .await;

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
        match serve(app, token_from_env(), stop_rx).await {
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
