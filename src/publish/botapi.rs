//! A small Bot API client for what must be delivered exactly as we decide: sending the
//! brief, digests and replies. Our own client (not teloxide's) because delivery needs to
//! know *whether* Telegram got a request: teloxide retries 429s forever in its Throttle
//! adaptor and sleeps 10 s after any 5xx, and neither says if a timed-out request was sent.
//!
//! The token is part of every URL, so errors are stripped of their URL before they are
//! shown or logged.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

pub use crate::message::ChatRef;
use crate::message::{OutgoingMessage, PartBody, RichMessage};

fn chat_json(chat: &ChatRef) -> Value {
    match chat {
        ChatRef::Id(id) => json!(id),
        ChatRef::Username(name) => json!(name),
    }
}

/// Why a request failed, sorted by what it means for delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 429: not sent; wait and send again.
    #[error("rate limited by Telegram: retry after {0:?}")]
    RetryAfter(Duration),
    /// The group became a supergroup with this id: not sent; send there.
    #[error("chat migrated to {0}")]
    Migrated(i64),
    /// 403: the bot was blocked, kicked, or may not write there.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 401: the token was rejected.
    #[error("the bot token was rejected (401 Unauthorized)")]
    Unauthorized,
    /// Any other 4xx, e.g. "chat not found" or a message Telegram refuses.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 404: the server does not know the method (a Bot API server older than the method).
    #[error("method not found: {0}")]
    MethodNotFound(String),
    /// 5xx: Telegram did not take the request.
    #[error("Telegram server error {0}: {1}")]
    Server(u16, String),
    /// The connection could not be made: the request surely did not arrive.
    #[error("cannot reach the Bot API: {0}")]
    Unreachable(String),
    /// A timeout or a dropped connection after the request went out: it may have been sent.
    #[error("no answer from the Bot API (the request may have been sent): {0}")]
    Ambiguous(String),
    #[error("unexpected answer from the Bot API: {0}")]
    Decode(String),
    /// Not sent: the process is stopping.
    #[error("not sent: ecobrief is stopping")]
    Stopped,
}

impl ApiError {
    /// The Bot API refused a rich message as such: an older (self-hosted) server that
    /// does not know `sendRichMessage` (404 "Not Found" / "method not found"), or a 400 on
    /// its content. The same content as text may still be taken; a chat that is not found
    /// would not take it either.
    pub fn refuses_rich(&self) -> bool {
        matches!(self, ApiError::MethodNotFound(_))
            || (matches!(self, ApiError::BadRequest(_)) && !self.is_chat_not_found())
    }

    /// A 400 on what was sent (not on the method): the content may be what is wrong, so
    /// the same message without a photo block may still be taken.
    pub fn refuses_content(&self) -> bool {
        matches!(self, ApiError::BadRequest(_)) && !self.is_chat_not_found()
    }

    pub fn is_chat_not_found(&self) -> bool {
        matches!(self, ApiError::BadRequest(d) if d.to_ascii_lowercase().contains("chat not found"))
    }
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    migrate_to_chat_id: Option<i64>,
}

/// How a message is sent.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    pub thread_id: Option<i64>,
    pub disable_notification: bool,
    pub link_preview: bool,
    /// An inline keyboard, as Bot API JSON.
    pub reply_markup: Option<Value>,
    /// A photo (an http(s) URL Telegram fetches itself): the message goes as its caption,
    /// by sendPhoto instead of sendMessage.
    pub photo: Option<String>,
    /// An ephemeral message (Bot API 10.2; the 10.3 shape, `ephemeral_message_parameters`)
    /// that only this user sees in a group. The id returned is then its
    /// `ephemeral_message_id`, which `editEphemeralMessageText` takes.
    pub ephemeral_to: Option<i64>,
}

/// A rich message as the Bot API's `InputRichMessage`: its `html`, and its photos as
/// `media` (each an `InputRichMessageMedia`: the id the HTML's `tg://photo?id=` link
/// names, and an `InputMediaPhoto` by URL).
pub fn input_rich_message(message: &RichMessage) -> Value {
    let mut input = json!({ "html": message.html });
    if !message.media.is_empty() {
        input["media"] = message
            .media
            .iter()
            .map(|p| json!({ "id": p.id, "media": { "type": "photo", "media": p.url } }))
            .collect();
    }
    input
}

/// An ephemeral message the bot sent: where, to whom, and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EphemeralRef {
    pub chat_id: i64,
    pub receiver: i64,
    pub ephemeral_message_id: i64,
}

#[derive(Clone)]
pub struct BotApi {
    client: reqwest::Client,
    /// `{api_url}/bot{token}`; never printed.
    base: String,
    /// Removes the token from every upstream text (a proxy's error page may echo the
    /// request path) before it becomes an error, a log line or a delivery record.
    redactor: crate::redact::Redactor,
}

/// Longest upstream text an error keeps.
const UPSTREAM_TEXT_CHARS: usize = 200;

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotApi { .. }")
    }
}

fn describe(e: &reqwest::Error) -> String {
    // Without the URL: it carries the token.
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

impl BotApi {
    pub fn new(api_url: &str, token: &str, timeout: Duration) -> Result<BotApi, ApiError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("ecobrief/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Unreachable(describe(&e.without_url())))?;
        Ok(BotApi {
            client,
            base: format!("{}/bot{}", api_url.trim_end_matches('/'), token),
            redactor: crate::redact::Redactor::new([token]),
        })
    }

    /// An upstream text fit for an error: one line, short, without the token.
    fn clean(&self, text: &str) -> String {
        self.redactor
            .scrub(&crate::redact::one_line(text, UPSTREAM_TEXT_CHARS))
    }

    /// Calls a Bot API method with a JSON body.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, ApiError> {
        let response = self
            .client
            .post(format!("{}/{method}", self.base))
            .json(body)
            .send()
            .await
            .map_err(|e| {
                let e = e.without_url();
                if e.is_connect() {
                    ApiError::Unreachable(self.clean(&describe(&e)))
                } else {
                    ApiError::Ambiguous(self.clean(&describe(&e)))
                }
            })?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiError::Ambiguous(self.clean(&describe(&e.without_url()))))?;
        let envelope: Envelope = match serde_json::from_slice(&bytes) {
            Ok(envelope) => envelope,
            Err(_) if status >= 500 => {
                return Err(ApiError::Server(
                    status,
                    self.clean(&String::from_utf8_lossy(&bytes)),
                ));
            }
            Err(e) => {
                return Err(ApiError::Decode(self.clean(&format!("HTTP {status}: {e}"))));
            }
        };
        if envelope.ok {
            return envelope
                .result
                .ok_or_else(|| ApiError::Decode("ok without result".to_string()));
        }
        let description = self.clean(&envelope.description.unwrap_or_default());
        let code = envelope.error_code.unwrap_or(status);
        let params = envelope.parameters;
        if let Some(id) = params.as_ref().and_then(|p| p.migrate_to_chat_id) {
            return Err(ApiError::Migrated(id));
        }
        Err(match code {
            429 => ApiError::RetryAfter(Duration::from_secs(
                params.and_then(|p| p.retry_after).unwrap_or(1),
            )),
            401 => ApiError::Unauthorized,
            403 => ApiError::Forbidden(description),
            404 => ApiError::MethodNotFound(description),
            500..=599 => ApiError::Server(code, description),
            _ => ApiError::BadRequest(description),
        })
    }

    /// Sends text with entities; returns the message id.
    pub async fn send_message(
        &self,
        chat: &ChatRef,
        message: &OutgoingMessage,
        options: &SendOptions,
    ) -> Result<i64, ApiError> {
        let mut body = json!({
            "chat_id": chat_json(chat),
            "text": message.text,
            "entities": message.entities,
            "link_preview_options": { "is_disabled": !options.link_preview },
            "disable_notification": options.disable_notification,
        });
        if let Some(thread) = options.thread_id {
            body["message_thread_id"] = json!(thread);
        }
        if let Some(markup) = &options.reply_markup {
            body["reply_markup"] = markup.clone();
        }
        if let Some(receiver) = options.ephemeral_to {
            body["ephemeral_message_parameters"] = json!({ "receiver_user_id": receiver });
        }
        let result = self.call("sendMessage", &body).await?;
        if options.ephemeral_to.is_some() {
            return result["ephemeral_message_id"].as_i64().ok_or_else(|| {
                // Taken, but not as an ephemeral message (a server older than 10.2
                // ignores the parameter): the caller must not edit it as one.
                ApiError::Decode("sendMessage answered without an ephemeral_message_id".into())
            });
        }
        // `ok: true` means Telegram took the message; a missing id must not make us send
        // it again, so it is recorded as 0.
        Ok(result["message_id"].as_i64().unwrap_or_else(|| {
            tracing::warn!("sendMessage answered ok without a message_id");
            0
        }))
    }

    /// Sends a rich message (Bot API 10.1 `sendRichMessage`, `rich_message` an
    /// `InputRichMessage` with its `html`); returns the message id. Rich messages take no
    /// link preview options.
    pub async fn send_rich_message(
        &self,
        chat: &ChatRef,
        message: &RichMessage,
        options: &SendOptions,
    ) -> Result<i64, ApiError> {
        let mut body = json!({
            "chat_id": chat_json(chat),
            "rich_message": input_rich_message(message),
            "disable_notification": options.disable_notification,
        });
        if let Some(thread) = options.thread_id {
            body["message_thread_id"] = json!(thread);
        }
        if let Some(markup) = &options.reply_markup {
            body["reply_markup"] = markup.clone();
        }
        let result = self.call("sendRichMessage", &body).await?;
        Ok(result["message_id"].as_i64().unwrap_or_else(|| {
            tracing::warn!("sendRichMessage answered ok without a message_id");
            0
        }))
    }

    /// Sends a part of either edition.
    pub async fn send_part(
        &self,
        chat: &ChatRef,
        body: &PartBody,
        options: &SendOptions,
    ) -> Result<i64, ApiError> {
        match body {
            PartBody::Text(message) => self.send_message(chat, message, options).await,
            PartBody::Rich(message) => self.send_rich_message(chat, message, options).await,
        }
    }

    /// Sends a photo by URL with `caption` (text + entities, ≤ 1024 code points); returns
    /// the message id.
    pub async fn send_photo(
        &self,
        chat: &ChatRef,
        photo: &str,
        caption: &OutgoingMessage,
        options: &SendOptions,
    ) -> Result<i64, ApiError> {
        let mut body = json!({
            "chat_id": chat_json(chat),
            "photo": photo,
            "caption": caption.text,
            "caption_entities": caption.entities,
            "disable_notification": options.disable_notification,
        });
        if let Some(thread) = options.thread_id {
            body["message_thread_id"] = json!(thread);
        }
        let result = self.call("sendPhoto", &body).await?;
        Ok(result["message_id"].as_i64().unwrap_or_else(|| {
            tracing::warn!("sendPhoto answered ok without a message_id");
            0
        }))
    }

    /// Pins a message; `silently` spares the members a notification.
    pub async fn pin_chat_message(
        &self,
        chat: &ChatRef,
        message_id: i64,
        silently: bool,
    ) -> Result<(), ApiError> {
        let body = json!({
            "chat_id": chat_json(chat),
            "message_id": message_id,
            "disable_notification": silently,
        });
        self.call("pinChatMessage", &body).await.map(|_| ())
    }

    /// Unpins one message (always by id: without one, Telegram unpins the most recent pin,
    /// which may be an admin's).
    pub async fn unpin_chat_message(
        &self,
        chat: &ChatRef,
        message_id: i64,
    ) -> Result<(), ApiError> {
        let body = json!({ "chat_id": chat_json(chat), "message_id": message_id });
        self.call("unpinChatMessage", &body).await.map(|_| ())
    }

    /// Replaces a message's text (for paging through a topic).
    pub async fn edit_message(
        &self,
        chat: &ChatRef,
        message_id: i64,
        message: &OutgoingMessage,
        reply_markup: Option<Value>,
    ) -> Result<(), ApiError> {
        let mut body = json!({
            "chat_id": chat_json(chat),
            "message_id": message_id,
            "text": message.text,
            "entities": message.entities,
            "link_preview_options": { "is_disabled": true },
        });
        if let Some(markup) = reply_markup {
            body["reply_markup"] = markup;
        }
        self.call("editMessageText", &body).await.map(|_| ())
    }

    /// Replaces the text of an ephemeral message (a `/topic` page seen by one member).
    pub async fn edit_ephemeral_message(
        &self,
        message: &EphemeralRef,
        text: &OutgoingMessage,
        reply_markup: Option<Value>,
    ) -> Result<(), ApiError> {
        let mut body = json!({
            "chat_id": message.chat_id,
            "receiver_user_id": message.receiver,
            "ephemeral_message_id": message.ephemeral_message_id,
            "text": text.text,
            "entities": text.entities,
            "link_preview_options": { "is_disabled": true },
        });
        if let Some(markup) = reply_markup {
            body["reply_markup"] = markup;
        }
        self.call("editEphemeralMessageText", &body)
            .await
            .map(|_| ())
    }

    /// The bot's own user name (checks the token).
    pub async fn get_me(&self) -> Result<String, ApiError> {
        let me = self.call("getMe", &json!({})).await?;
        me["username"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ApiError::Decode("getMe has no username".to_string()))
    }

    /// User ids of a chat's administrators.
    pub async fn chat_administrators(&self, chat: &ChatRef) -> Result<Vec<i64>, ApiError> {
        let admins = self
            .call(
                "getChatAdministrators",
                &json!({ "chat_id": chat_json(chat) }),
            )
            .await?;
        Ok(admins
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|m| m["user"]["id"].as_i64())
                    .collect()
            })
            .unwrap_or_default())
    }
}
