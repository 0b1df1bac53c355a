//! The Telegram edge: the token, the bot's long-polling dispatcher and its commands, and
//! the process around them. Everything it does goes through the core (`app`, `publish`).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use tokio::sync::watch;

use crate::app::App;
use crate::publish::botapi::{ApiError, BotApi};
use crate::publish::{PublishError, Publisher, Trigger};

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
pub async fn connect(app: &App) -> Result<(BotApi, String), String> {
    let Some(token) = token_from_env() else {
        return Err(format!(
            "no bot token: set {} (from @BotFather) in the environment",
            TOKEN_VARS[0]
        ));
    };
    let telegram = &app.config.telegram;
    let api = BotApi::new(
        &telegram.api_url,
        &token,
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
    runtime()?.block_on(async move {
        let (api, _) = match connect(&app).await {
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
