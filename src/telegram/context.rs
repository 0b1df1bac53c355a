//! What every handler shares: the publisher (and through it the app), the config, and
//! the admin check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use teloxide::types::Message;

use crate::config::Config;
use crate::publish::botapi::{ChatRef, SendOptions};
use crate::publish::{Publisher, with_app};
use crate::render::text::OutgoingMessage;

pub type HandlerResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub struct BotContext {
    pub publisher: Arc<Publisher>,
    pub config: Config,
    pub bot_username: String,
    pub started: Instant,
    /// Target chat → (when fetched, its administrators' user ids).
    admin_cache: Mutex<HashMap<String, (Instant, Vec<i64>)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Where a reply to `msg` goes: its chat and forum thread.
pub fn reply_target(msg: &Message) -> (ChatRef, SendOptions) {
    (
        ChatRef::Id(msg.chat.id.0),
        SendOptions {
            // Only a forum topic takes a thread id; a reply thread in an ordinary group
            // (or the General topic) would make Telegram answer "thread not found".
            thread_id: msg
                .thread_id
                .filter(|_| msg.is_topic_message)
                .map(|t| i64::from(t.0.0)),
            ..SendOptions::default()
        },
    )
}

pub fn plain(text: impl Into<String>) -> OutgoingMessage {
    OutgoingMessage {
        text: text.into(),
        entities: Vec::new(),
    }
}

impl BotContext {
    pub fn new(publisher: Arc<Publisher>, config: Config, bot_username: String) -> BotContext {
        BotContext {
            publisher,
            config,
            bot_username,
            started: Instant::now(),
            admin_cache: Mutex::new(HashMap::new()),
        }
    }

    /// The next scheduled publish, from the cron expression and now.
    pub fn next_publish(&self) -> Option<DateTime<Utc>> {
        if !self.config.schedule.enabled {
            return None;
        }
        let cron =
            crate::schedule::parse_cron("publish_cron", &self.config.schedule.publish_cron).ok()?;
        let now = Utc::now().with_timezone(&self.config.tz());
        cron.find_next_occurrence(&now, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Replies in the chat (and thread) of `msg`; a failure is logged, not raised, since
    /// there is nobody else to tell.
    pub async fn reply(&self, msg: &Message, message: &OutgoingMessage) -> Option<i64> {
        let (chat, options) = reply_target(msg);
        self.send(&chat, message, options).await
    }

    pub async fn send(
        &self,
        chat: &ChatRef,
        message: &OutgoingMessage,
        options: SendOptions,
    ) -> Option<i64> {
        match self.publisher.reply(chat, message, options).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!("reply to {}: {e}", chat.key());
                None
            }
        }
    }

    pub fn is_private(msg: &Message) -> bool {
        msg.chat.id.0 > 0
    }

    /// Admins: user ids from config, the administrators of each target chat (cached for
    /// `admin_cache_minutes`), and anonymous admins posting as a target chat.
    pub async fn is_admin(&self, msg: &Message) -> bool {
        let telegram = &self.config.telegram;
        if let Some(sender) = &msg.sender_chat {
            let id = sender.id.0;
            let resolved: Vec<Option<i64>> = telegram
                .targets
                .iter()
                .map(|t| {
                    with_app(self.publisher.app(), |app| app.store.migrated_chat(&t.chat))
                        .ok()
                        .flatten()
                        .or_else(|| t.chat.parse().ok())
                })
                .collect();
            if resolved.contains(&Some(id))
                || sender.username().is_some_and(|u| {
                    telegram
                        .targets
                        .iter()
                        .any(|t| t.chat.trim_start_matches('@').eq_ignore_ascii_case(u))
                })
            {
                return true;
            }
        }
        let Some(user) = &msg.from else {
            return false;
        };
        let Ok(user_id) = i64::try_from(user.id.0) else {
            return false;
        };
        if telegram.admins.contains(&user_id) {
            return true;
        }
        let ttl = Duration::from_secs(telegram.admin_cache_minutes * 60);
        for target in &telegram.targets {
            let cached = lock(&self.admin_cache)
                .get(&target.chat)
                .filter(|(at, _)| at.elapsed() < ttl)
                .map(|(_, ids)| ids.clone());
            let ids = match cached {
                Some(ids) => ids,
                None => {
                    let Some(chat) = ChatRef::parse(&target.chat) else {
                        continue;
                    };
                    match self.publisher.api().chat_administrators(&chat).await {
                        Ok(ids) => {
                            lock(&self.admin_cache)
                                .insert(target.chat.clone(), (Instant::now(), ids.clone()));
                            ids
                        }
                        Err(e) => {
                            tracing::warn!("getChatAdministrators {}: {e}", target.chat);
                            continue;
                        }
                    }
                }
            };
            if ids.contains(&user_id) {
                return true;
            }
        }
        false
    }
}
