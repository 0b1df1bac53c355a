//! What every handler shares: read-only handles (the core, the publisher, the job
//! queue) and the admin check. No lock around any of it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use teloxide::types::Message;

use crate::app::Core;
use crate::message::{ChatRef, OutgoingMessage};
use crate::publish::Publisher;
use crate::publish::botapi::SendOptions;
use crate::runner::JobQueue;

pub type HandlerResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub struct BotContext {
    pub core: Core,
    pub publisher: Arc<Publisher>,
    pub jobs: JobQueue,
    pub bot_username: String,
    pub started: Instant,
    /// Ephemeral `/topic` answers that a 更多 press may page.
    pub ephemeral: super::ephemeral::EphemeralReplies,
    /// Target chat → (when fetched, its administrators' user ids). An async lock, held
    /// only to read or replace an entry.
    admin_cache: tokio::sync::Mutex<HashMap<String, (Instant, Vec<i64>)>>,
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
    OutgoingMessage::plain(text)
}

impl BotContext {
    pub fn new(
        core: Core,
        publisher: Arc<Publisher>,
        jobs: JobQueue,
        bot_username: String,
    ) -> BotContext {
        BotContext {
            core,
            publisher,
            jobs,
            bot_username,
            started: Instant::now(),
            ephemeral: super::ephemeral::EphemeralReplies::new(),
            admin_cache: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The next run of a schedule (`None` when the schedule is off).
    pub fn next_run(&self, cron: &croner::Cron) -> Option<DateTime<Utc>> {
        let settings = &self.core.settings;
        if !settings.schedule.enabled {
            return None;
        }
        let now = Utc::now().with_timezone(&settings.tz);
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

    /// Each target's chat as it is now: the new id after a migration to a supergroup.
    async fn target_chats(&self) -> Vec<ChatRef> {
        let targets = self.core.settings.telegram.targets.clone();
        let migrated = self
            .core
            .db
            .run(move |store| {
                targets
                    .iter()
                    .map(|t| {
                        Ok(store
                            .migrated_chat(&t.chat_key())?
                            .map_or_else(|| t.chat.clone(), ChatRef::Id))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .await;
        migrated.unwrap_or_else(|e| {
            tracing::warn!("reading chat migrations: {e}");
            self.core
                .settings
                .telegram
                .targets
                .iter()
                .map(|t| t.chat.clone())
                .collect()
        })
    }

    /// Admins: user ids from config, the administrators of each target chat (cached for
    /// `admin_cache_minutes`), and anonymous admins posting as a target chat.
    pub async fn is_admin(&self, msg: &Message) -> bool {
        let telegram = &self.core.settings.telegram;
        let chats = self.target_chats().await;
        // An anonymous admin writes as the group itself: the sender chat is the chat the
        // message is in, and that chat is a target. A message "from" a target chat in any
        // other chat (a private chat, another group) proves nothing.
        if let Some(sender) = &msg.sender_chat
            && sender.id == msg.chat.id
        {
            let id = sender.id.0;
            let by_name = sender.username().is_some_and(|u| {
                chats.iter().any(|c| match c {
                    ChatRef::Username(name) => name.trim_start_matches('@').eq_ignore_ascii_case(u),
                    ChatRef::Id(_) => false,
                })
            });
            if chats.contains(&ChatRef::Id(id)) || by_name {
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
        let ttl = telegram.admin_cache;
        for chat in &chats {
            let key = chat.key();
            let cached = self
                .admin_cache
                .lock()
                .await
                .get(&key)
                .filter(|(at, _)| at.elapsed() < ttl)
                .map(|(_, ids)| ids.clone());
            let ids = match cached {
                Some(ids) => ids,
                None => match self.publisher.api().chat_administrators(chat).await {
                    Ok(ids) => {
                        self.admin_cache
                            .lock()
                            .await
                            .insert(key, (Instant::now(), ids.clone()));
                        ids
                    }
                    Err(e) => {
                        tracing::warn!("getChatAdministrators {key}: {e}");
                        continue;
                    }
                },
            };
            if ids.contains(&user_id) {
                return true;
            }
        }
        false
    }
}
