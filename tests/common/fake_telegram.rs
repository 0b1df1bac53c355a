//! A fake Telegram Bot API server, over real HTTP on 127.0.0.1, that enforces Telegram's
//! rules: 4096 code points and 100 entities per message, entity bounds in UTF-16, at most
//! 64 bytes of callback data per button, and rate limits (per chat, per group per minute,
//! overall per second) answered with 429 and `retry_after`. Faults can be queued: 5xx, 403, chat not found, group migration, a
//! request that never gets an answer.
//!
//! sendPhoto takes a caption of at most 1024 code points; a photo URL marked bad is
//! refused as Telegram refuses one it cannot fetch. pinChatMessage and unpinChatMessage
//! need the bot's right to pin in that chat (it can be taken away) and a message that
//! exists. Entities are checked by type: `date_time` needs a `unix_time` within Telegram's
//! range and a `date_time_format` of the documented shape.
//!
//! Ephemeral messages (Bot API 10.2, 10.3 parameters): a sendMessage with
//! `ephemeral_message_parameters.receiver_user_id` is seen by that user only and gets an
//! `ephemeral_message_id` of its own numbering; `editEphemeralMessageText` edits only an
//! ephemeral message sent to that receiver in that chat.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

pub const TOKEN: &str = "123456:TEST-token-never-logged";
pub const BOT_ID: i64 = 777;
pub const BOT_USERNAME: &str = "ecobrief_test_bot";

/// A fault the next matching call gets instead of the normal answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answers normally (to let calls through before a later fault).
    Pass,
    Status(u16),
    RetryAfter(u64),
    Forbidden,
    ChatNotFound,
    /// Never answers (until the client gives up or is killed).
    Hang,
    /// Starts an answer, then drops the connection: the client cannot tell whether the
    /// message went out (here it did not).
    Drop,
    /// A 400 with this description (e.g. a rich message the server refuses).
    BadRequest(String),
    /// A proxy's HTML error page with this status that echoes the request path, token
    /// included, in its title and body.
    EchoPath(u16),
}

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
}

#[derive(Debug, Clone)]
pub struct Sent {
    pub chat_id: Value,
    pub message_id: i64,
    pub text: String,
    pub entities: Value,
    pub thread_id: Option<i64>,
    pub reply_markup: Option<Value>,
    pub edited: bool,
    /// A rich message's HTML (`sendRichMessage`); `text` holds it too.
    pub rich_html: Option<String>,
    /// An ephemeral message: the only user who sees it. `message_id` is then its
    /// `ephemeral_message_id` (a numbering of its own).
    pub ephemeral_to: Option<i64>,
}

/// A photo delivered by sendPhoto.
#[derive(Debug, Clone)]
pub struct Photo {
    pub chat_id: Value,
    pub message_id: i64,
    pub photo: String,
    pub caption: String,
    pub caption_entities: Value,
    pub disable_notification: bool,
}

/// A pinChatMessage or unpinChatMessage Telegram carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinEvent {
    Pinned {
        chat: String,
        message_id: i64,
        silent: bool,
    },
    Unpinned {
        chat: String,
        message_id: i64,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_chat_interval: Duration,
    pub per_group_per_minute: usize,
    pub global_per_second: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_chat_interval: Duration::from_millis(0),
            per_group_per_minute: 20,
            global_per_second: 30,
        }
    }
}

#[derive(Default)]
struct FakeState {
    calls: Vec<Call>,
    sent: Vec<Sent>,
    updates: VecDeque<Value>,
    next_update_id: i64,
    next_message_id: i64,
    next_ephemeral_id: i64,
    faults: VecDeque<(String, Fault)>,
    forbidden: HashSet<String>,
    migrated: HashMap<String, i64>,
    admins: HashMap<String, Vec<i64>>,
    last_by_chat: HashMap<String, Instant>,
    group_window: HashMap<String, VecDeque<Instant>>,
    global_window: VecDeque<Instant>,
    limits: Limits,
    rate_limited: usize,
    /// An older Bot API server (before 10.1) does not know `sendRichMessage`.
    rich_unsupported: bool,
    photos: Vec<Photo>,
    bad_photo_urls: HashSet<String>,
    /// Chats where the bot may not pin (no `can_pin_messages`).
    no_pin_rights: HashSet<String>,
    /// Pinned message ids per chat, oldest first.
    pinned: HashMap<String, Vec<i64>>,
    pin_events: Vec<PinEvent>,
}

#[derive(Clone)]
pub struct FakeTelegram {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
}

fn chat_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn error(status: StatusCode, code: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({ "ok": false, "error_code": code, "description": description });
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (status, axum::Json(body)).into_response()
}

fn ok(result: Value) -> Response {
    axum::Json(json!({ "ok": true, "result": result })).into_response()
}

/// Checks a rich message against the limits the Bot API documents for rich messages
/// (32,768 characters of text, 500 blocks counting list items and table rows, nesting
/// depth 16, 20 table columns) and a plain reading of its tags. Written apart from
/// ecobrief's own checker, so the two do not share a mistake. The descriptions are ours:
/// the docs do not give the API's wording.
fn validate_rich(html: &str, media: &Value) -> Result<(), String> {
    // InputRichMessageMedia: each photo an `id` (1–64 of A-Za-z0-9_-) and an
    // InputMediaPhoto; at most 50 media; each <img> names one of them.
    let media = media.as_array().cloned().unwrap_or_default();
    if media.len() > 50 {
        return Err("Bad Request: rich message has too many media".into());
    }
    let mut ids = HashSet::new();
    for m in &media {
        let id = m["id"].as_str().unwrap_or("");
        let id_ok = (1..=64).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !id_ok || m["media"]["type"] != "photo" || !m["media"]["media"].is_string() {
            return Err(format!("Bad Request: invalid rich message media {m}"));
        }
        ids.insert(id.to_string());
    }
    let mut from = 0;
    while let Some(at) = html[from..].find("<img") {
        let tag = &html[from + at..];
        let end = tag.find('>').unwrap_or(tag.len());
        let named = tag[..end]
            .split("tg://photo?id=")
            .nth(1)
            .map(|rest| rest.trim_end_matches(['"', '/', ' ']).to_string());
        match named {
            Some(id) if ids.contains(&id) => {}
            _ => {
                return Err(format!(
                    "Bad Request: rich message media not found for {}",
                    &tag[..end]
                ));
            }
        }
        from += at + end;
    }
    const BLOCKS: &[&str] = &[
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "footer",
        "hr",
        "ul",
        "ol",
        "li",
        "blockquote",
        "aside",
        "table",
        "tr",
        "details",
    ];
    const KNOWN: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "sub",
        "sup",
        "mark",
        "summary",
        "th",
        "td",
        "br",
        "tg-spoiler",
        "img",
        "video",
        "audio",
    ];
    if html.trim().is_empty() {
        return Err("Bad Request: rich message is empty".to_string());
    }
    let (mut chars, mut blocks, mut columns) = (0usize, 0usize, 0usize);
    let mut stack: Vec<String> = Vec::new();
    let mut max_depth = 0;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        chars += rest[..lt].trim().chars().count();
        let after = &rest[lt + 1..];
        let gt = after
            .find('>')
            .ok_or("Bad Request: can't parse rich message HTML: unclosed tag")?;
        let inside = &after[..gt];
        let closing = inside.starts_with('/');
        let name: String = inside
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if !BLOCKS.contains(&name.as_str()) && !KNOWN.contains(&name.as_str()) {
            return Err(format!(
                "Bad Request: can't parse rich message HTML: unsupported tag <{name}>"
            ));
        }
        if closing {
            if stack.pop().as_deref() != Some(name.as_str()) {
                return Err(format!(
                    "Bad Request: can't parse rich message HTML: unexpected </{name}>"
                ));
            }
        } else {
            if BLOCKS.contains(&name.as_str()) {
                blocks += 1;
            }
            if name == "tr" {
                columns = 0;
            }
            if name == "td" || name == "th" {
                columns += 1;
                if columns > 20 {
                    return Err("Bad Request: rich message table has too many columns".into());
                }
            }
            if name == "img" {
                blocks += 1;
            }
            if name != "hr" && name != "br" && name != "img" && !inside.ends_with('/') {
                stack.push(name);
                max_depth = max_depth.max(stack.len());
            }
        }
        rest = &after[gt + 1..];
    }
    chars += rest.trim().chars().count();
    if !stack.is_empty() {
        return Err("Bad Request: can't parse rich message HTML: unclosed tag".to_string());
    }
    if chars > 32_768 {
        return Err("Bad Request: rich message text is too long".to_string());
    }
    if blocks > 500 {
        return Err("Bad Request: rich message has too many blocks".to_string());
    }
    if max_depth > 16 {
        return Err("Bad Request: rich message is nested too deeply".to_string());
    }
    Ok(())
}

/// Checks a message as Telegram would; `Err` is the Bot API's description.
fn validate(text: &str, entities: &Value) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("Bad Request: message text is empty".into());
    }
    let chars = text.chars().count();
    if chars > 4096 {
        return Err(format!(
            "Bad Request: message is too long ({chars} code points)"
        ));
    }
    validate_entities(text, entities)
}

/// Checks a caption as Telegram does: "0-1024 characters after entities parsing".
fn validate_caption(caption: &str, entities: &Value) -> Result<(), String> {
    let chars = caption.chars().count();
    if chars > 1024 {
        return Err(format!(
            "Bad Request: message caption is too long ({chars} code points)"
        ));
    }
    if caption.is_empty() {
        return Ok(());
    }
    validate_entities(caption, entities)
}

/// Every format the Bot API's date-time entity formatting allows (`r|w?[dD]?[tT]?`),
/// spelled out.
fn date_time_formats() -> Vec<String> {
    let mut all = vec!["r".to_string()];
    for w in ["", "w"] {
        for d in ["", "d", "D"] {
            for t in ["", "t", "T"] {
                all.push(format!("{w}{d}{t}"));
            }
        }
    }
    all
}

/// Entity types Telegram knows (MessageEntity.type).
const ENTITY_TYPES: &[&str] = &[
    "mention",
    "hashtag",
    "cashtag",
    "bot_command",
    "url",
    "email",
    "phone_number",
    "bold",
    "italic",
    "underline",
    "strikethrough",
    "spoiler",
    "blockquote",
    "expandable_blockquote",
    "code",
    "pre",
    "text_link",
    "text_mention",
    "custom_emoji",
    "date_time",
];

/// Checks entities against the text: known types, bounds in UTF-16, no split surrogate
/// pair, and a `date_time`'s fields.
fn validate_entities(text: &str, entities: &Value) -> Result<(), String> {
    let list = entities.as_array().cloned().unwrap_or_default();
    if list.len() > 100 {
        return Err(format!("Bad Request: too many entities ({})", list.len()));
    }
    let utf16: Vec<u16> = text.encode_utf16().collect();
    for e in &list {
        let offset = e["offset"]
            .as_u64()
            .ok_or("Bad Request: entity without offset")? as usize;
        let length = e["length"]
            .as_u64()
            .ok_or("Bad Request: entity without length")? as usize;
        if length == 0 || offset + length > utf16.len() {
            return Err(format!("Bad Request: entity {e} is out of the text"));
        }
        for at in [offset, offset + length] {
            if at < utf16.len() && (0xDC00..0xE000).contains(&utf16[at]) {
                return Err(format!("Bad Request: entity {e} splits a surrogate pair"));
            }
        }
        let kind = e["type"].as_str().unwrap_or("");
        if !ENTITY_TYPES.contains(&kind) {
            return Err(format!("Bad Request: unsupported entity type {kind:?}"));
        }
        if kind == "date_time" {
            // The MTProto layer allows 0 to now + 1098 days for the date.
            let latest = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
                + 1098 * 86_400;
            match e["unix_time"].as_i64() {
                Some(t) if (0..=latest).contains(&t) => {}
                _ => {
                    return Err(format!(
                        "Bad Request: date_time entity {e} has a bad unix_time"
                    ));
                }
            }
            if let Some(format) = e.get("date_time_format") {
                let format = format.as_str().unwrap_or("?");
                if !date_time_formats().iter().any(|f| f == format) {
                    return Err(format!(
                        "Bad Request: date_time entity has a bad date_time_format {format:?}"
                    ));
                }
            }
        } else if e.get("unix_time").is_some() || e.get("date_time_format").is_some() {
            return Err(format!(
                "Bad Request: {kind} entity {e} has date_time fields"
            ));
        }
    }
    Ok(())
}

/// Checks inline buttons as Telegram does: `callback_data` is 1 to 64 bytes.
fn validate_markup(markup: Option<&Value>) -> Result<(), String> {
    let rows = markup
        .and_then(|m| m["inline_keyboard"].as_array())
        .cloned()
        .unwrap_or_default();
    for button in rows.iter().filter_map(|r| r.as_array()).flatten() {
        if let Some(data) = button.get("callback_data") {
            let len = data.as_str().map_or(0, str::len);
            if !(1..=64).contains(&len) {
                return Err(format!(
                    "Bad Request: BUTTON_DATA_INVALID ({len} bytes of callback_data)"
                ));
            }
        }
    }
    Ok(())
}

impl FakeState {
    /// Applies the rate limits; `Some(seconds)` to answer 429 with.
    /// What Telegram answers a send to a chat that became a supergroup (400 with the new
    /// id), or to one sent to too fast (429 with `retry_after`); `None` when it may go.
    fn refuse_migrated_or_too_fast(&mut self, chat: &str) -> Option<Response> {
        if let Some(new_id) = self.migrated.get(chat) {
            return Some(error(
                StatusCode::BAD_REQUEST,
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                Some(json!({ "migrate_to_chat_id": new_id })),
            ));
        }
        let is_group = chat.starts_with('-') || chat.starts_with('@');
        let wait = self.rate_limit(chat, is_group)?;
        self.rate_limited += 1;
        Some(error(
            StatusCode::TOO_MANY_REQUESTS,
            429,
            &format!("Too Many Requests: retry after {wait}"),
            Some(json!({ "retry_after": wait })),
        ))
    }

    fn rate_limit(&mut self, chat: &str, is_group: bool) -> Option<u64> {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let minute = Duration::from_secs(60);
        while self
            .global_window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= second)
        {
            self.global_window.pop_front();
        }
        if self.global_window.len() >= self.limits.global_per_second {
            return Some(1);
        }
        if let Some(last) = self.last_by_chat.get(chat)
            && now.duration_since(*last) < self.limits.per_chat_interval
        {
            let wait = self.limits.per_chat_interval - now.duration_since(*last);
            return Some(wait.as_secs().max(1));
        }
        if is_group {
            let window = self.group_window.entry(chat.to_string()).or_default();
            while window
                .front()
                .is_some_and(|t| now.duration_since(*t) >= minute)
            {
                window.pop_front();
            }
            if window.len() >= self.limits.per_group_per_minute {
                let wait = minute - now.duration_since(*window.front()?);
                return Some(wait.as_secs().max(1));
            }
            window.push_back(now);
        }
        self.last_by_chat.insert(chat.to_string(), now);
        self.global_window.push_back(now);
        None
    }
}

async fn handle(
    State(fake): State<FakeTelegram>,
    Path((token, method)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if token != format!("bot{TOKEN}") {
        return error(StatusCode::UNAUTHORIZED, 401, "Unauthorized", None);
    }
    // teloxide sends method names PascalCase (SendMessage), the Bot API docs camelCase.
    let method = method.to_ascii_lowercase();
    let body: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let fault = {
        let mut state = fake.state.lock().unwrap();
        state.calls.push(Call {
            method: method.clone(),
            body: body.clone(),
        });
        let index = state.faults.iter().position(|(m, _)| *m == method);
        index.and_then(|i| state.faults.remove(i)).map(|(_, f)| f)
    };
    match fault {
        Some(Fault::Pass) | None => {}
        Some(Fault::EchoPath(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            let path = format!("/{token}/{method}");
            let page = format!(
                "<!DOCTYPE html>\n<html>\n<head><title>{code} upstream error for {path}</title></head>\n<body>\n<h1>{code}</h1>\n<p>while proxying {path}</p>\n</body>\n</html>\n"
            );
            return (status, [("content-type", "text/html")], page).into_response();
        }
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error(status, code, "Internal Server Error", None);
        }
        Some(Fault::RetryAfter(s)) => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                429,
                &format!("Too Many Requests: retry after {s}"),
                Some(json!({ "retry_after": s })),
            );
        }
        Some(Fault::Forbidden) => {
            return error(
                StatusCode::FORBIDDEN,
                403,
                "Forbidden: bot was blocked by the user",
                None,
            );
        }
        Some(Fault::BadRequest(description)) => {
            return error(StatusCode::BAD_REQUEST, 400, &description, None);
        }
        Some(Fault::ChatNotFound) => {
            return error(
                StatusCode::BAD_REQUEST,
                400,
                "Bad Request: chat not found",
                None,
            );
        }
        Some(Fault::Drop) => {
            let broken = futures_util::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped"))
            });
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(axum::body::Body::from_stream(broken))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return error(StatusCode::GATEWAY_TIMEOUT, 504, "hung", None);
        }
    }
    match method.as_str() {
        "getme" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "EcoBrief", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false
        })),
        "getupdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let timeout = body["timeout"].as_u64().unwrap_or(0).min(1);
            let deadline = Instant::now() + Duration::from_secs(timeout);
            loop {
                let updates: Vec<Value> = {
                    let mut state = fake.state.lock().unwrap();
                    state
                        .updates
                        .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    state.updates.iter().cloned().collect()
                };
                if !updates.is_empty() || Instant::now() >= deadline {
                    return ok(Value::Array(updates));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "sendrichmessage" if fake.state.lock().unwrap().rich_unsupported => error(
            StatusCode::NOT_FOUND,
            404,
            "Not Found: method sendrichmessage",
            None,
        ),
        "sendmessage" | "editmessagetext" | "editephemeralmessagetext" | "sendrichmessage" => {
            let chat = chat_key(&body["chat_id"]);
            let rich_html = (method == "sendrichmessage").then(|| {
                body["rich_message"]["html"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            });
            let text = match &rich_html {
                Some(html) => html.clone(),
                None => body["text"].as_str().unwrap_or("").to_string(),
            };
            let entities = body.get("entities").cloned().unwrap_or(json!([]));
            let checked = match &rich_html {
                Some(html) => validate_rich(html, &body["rich_message"]["media"]),
                None => validate(&text, &entities),
            };
            if let Err(description) =
                checked.and_then(|()| validate_markup(body.get("reply_markup")))
            {
                return error(StatusCode::BAD_REQUEST, 400, &description, None);
            }
            let mut state = fake.state.lock().unwrap();
            // A photo of a rich message is fetched as sendPhoto's is.
            let photo_urls = body["rich_message"]["media"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if photo_urls.iter().any(|m| {
                m["media"]["media"]
                    .as_str()
                    .is_some_and(|url| state.bad_photo_urls.contains(url))
            }) {
                return error(
                    StatusCode::BAD_REQUEST,
                    400,
                    "Bad Request: wrong file identifier/HTTP URL specified",
                    None,
                );
            }
            if state.forbidden.contains(&chat) {
                return error(
                    StatusCode::FORBIDDEN,
                    403,
                    "Forbidden: bot was blocked by the user",
                    None,
                );
            }
            if let Some(refusal) = state.refuse_migrated_or_too_fast(&chat) {
                return refusal;
            }
            let is_group = chat.starts_with('-') || chat.starts_with('@');
            let edited = method == "editmessagetext" || method == "editephemeralmessagetext";
            // Bot API 10.3: the receiver of an ephemeral message is given in
            // `ephemeral_message_parameters` (10.2's top-level `receiver_user_id` is gone,
            // and is ignored here, so such a message goes to the whole group).
            let ephemeral_to = match method.as_str() {
                "sendmessage" => body["ephemeral_message_parameters"]["receiver_user_id"].as_i64(),
                "editephemeralmessagetext" => body["receiver_user_id"].as_i64(),
                _ => None,
            };
            if method == "sendmessage"
                && body.get("ephemeral_message_parameters").is_some()
                && ephemeral_to.is_none()
            {
                return error(
                    StatusCode::BAD_REQUEST,
                    400,
                    "Bad Request: ephemeral_message_parameters needs an integer receiver_user_id",
                    None,
                );
            }
            if method == "editephemeralmessagetext" {
                let id = body["ephemeral_message_id"].as_i64();
                let exists = state.sent.iter().any(|s| {
                    s.ephemeral_to.is_some()
                        && s.ephemeral_to == ephemeral_to
                        && Some(s.message_id) == id
                        && chat_key(&s.chat_id) == chat
                });
                if !exists {
                    return error(
                        StatusCode::BAD_REQUEST,
                        400,
                        "Bad Request: message to edit not found",
                        None,
                    );
                }
            }
            let message_id = if method == "editephemeralmessagetext" {
                body["ephemeral_message_id"].as_i64().unwrap_or(0)
            } else if edited {
                body["message_id"].as_i64().unwrap_or(0)
            } else if ephemeral_to.is_some() {
                state.next_ephemeral_id += 1;
                state.next_ephemeral_id
            } else {
                state.next_message_id += 1;
                state.next_message_id
            };
            state.sent.push(Sent {
                chat_id: body["chat_id"].clone(),
                message_id,
                text: text.clone(),
                entities,
                thread_id: body["message_thread_id"].as_i64(),
                reply_markup: body.get("reply_markup").cloned(),
                edited,
                rich_html,
                ephemeral_to,
            });
            if method == "editephemeralmessagetext" {
                return ok(json!(true));
            }
            if let Some(receiver) = ephemeral_to {
                return ok(json!({
                    "ephemeral_message_id": message_id,
                    "receiver_user": { "id": receiver, "is_bot": false, "first_name": "User" },
                    "date": 0,
                    "chat": { "id": body["chat_id"], "type": "supergroup" },
                    "text": text
                }));
            }
            ok(
                json!({ "message_id": message_id, "date": 0, "chat": { "id": body["chat_id"], "type": if is_group { "supergroup" } else { "private" } }, "text": text }),
            )
        }
        "sendphoto" => {
            let chat = chat_key(&body["chat_id"]);
            let caption = body["caption"].as_str().unwrap_or("").to_string();
            let entities = body.get("caption_entities").cloned().unwrap_or(json!([]));
            if let Err(description) = validate_caption(&caption, &entities) {
                return error(StatusCode::BAD_REQUEST, 400, &description, None);
            }
            let Some(photo) = body["photo"].as_str().map(str::to_string) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    400,
                    "Bad Request: there is no photo in the request",
                    None,
                );
            };
            let mut state = fake.state.lock().unwrap();
            if state.bad_photo_urls.contains(&photo) {
                return error(
                    StatusCode::BAD_REQUEST,
                    400,
                    "Bad Request: wrong file identifier/HTTP URL specified",
                    None,
                );
            }
            if let Some(refusal) = state.refuse_migrated_or_too_fast(&chat) {
                return refusal;
            }
            state.next_message_id += 1;
            let message_id = state.next_message_id;
            state.photos.push(Photo {
                chat_id: body["chat_id"].clone(),
                message_id,
                photo,
                caption: caption.clone(),
                caption_entities: entities,
                disable_notification: body["disable_notification"].as_bool().unwrap_or(false),
            });
            ok(
                json!({ "message_id": message_id, "date": 0, "chat": { "id": body["chat_id"], "type": "supergroup" }, "photo": [], "caption": caption }),
            )
        }
        "pinchatmessage" | "unpinchatmessage" => {
            let chat = chat_key(&body["chat_id"]);
            let mut state = fake.state.lock().unwrap();
            if state.no_pin_rights.contains(&chat) {
                return error(
                    StatusCode::BAD_REQUEST,
                    400,
                    "Bad Request: not enough rights to manage pinned messages in the chat",
                    None,
                );
            }
            let exists = |state: &FakeState, id: i64| {
                state
                    .sent
                    .iter()
                    .any(|s| chat_key(&s.chat_id) == chat && s.message_id == id)
                    || state
                        .photos
                        .iter()
                        .any(|p| chat_key(&p.chat_id) == chat && p.message_id == id)
            };
            if method == "pinchatmessage" {
                let id = body["message_id"].as_i64().unwrap_or(0);
                if !exists(&state, id) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        400,
                        "Bad Request: message to pin not found",
                        None,
                    );
                }
                let pins = state.pinned.entry(chat.clone()).or_default();
                pins.retain(|p| *p != id);
                pins.push(id);
                let silent = body["disable_notification"].as_bool().unwrap_or(false);
                state.pin_events.push(PinEvent::Pinned {
                    chat,
                    message_id: id,
                    silent,
                });
            } else {
                let pins = state.pinned.entry(chat.clone()).or_default();
                // Without an id, the most recent pin goes.
                let id = body["message_id"].as_i64().or_else(|| pins.last().copied());
                let Some(id) = id.filter(|id| pins.contains(id)) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        400,
                        "Bad Request: message to unpin not found",
                        None,
                    );
                };
                pins.retain(|p| *p != id);
                state.pin_events.push(PinEvent::Unpinned {
                    chat,
                    message_id: id,
                });
            }
            ok(json!(true))
        }
        "getchatadministrators" => {
            let chat = chat_key(&body["chat_id"]);
            let state = fake.state.lock().unwrap();
            let admins = state.admins.get(&chat).cloned().unwrap_or_default();
            ok(Value::Array(
                admins
                    .iter()
                    .map(|id| json!({ "status": "administrator", "user": { "id": id, "is_bot": false, "first_name": "Admin" }, "can_be_edited": false, "is_anonymous": false, "can_manage_chat": true, "can_delete_messages": true, "can_manage_video_chats": true, "can_restrict_members": true, "can_promote_members": false, "can_change_info": true, "can_invite_users": true, "can_post_stories": false, "can_edit_stories": false, "can_delete_stories": false }))
                    .collect(),
            ))
        }
        "setmycommands"
        | "deletemycommands"
        | "answercallbackquery"
        | "deletewebhook"
        | "setwebhook" => ok(json!(true)),
        other => error(
            StatusCode::NOT_FOUND,
            404,
            &format!("Not Found: method {other}"),
            None,
        ),
    }
}

impl FakeTelegram {
    pub async fn start(limits: Limits) -> FakeTelegram {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let fake = FakeTelegram {
            url,
            state: Arc::new(Mutex::new(FakeState {
                limits,
                next_update_id: 1,
                ..FakeState::default()
            })),
        };
        let app = Router::new()
            .route("/{token}/{method}", any(handle))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// Answers `sendRichMessage` as a Bot API server older than 10.1 does: 404, no such
    /// method.
    pub fn set_rich_unsupported(&self, unsupported: bool) {
        self.state.lock().unwrap().rich_unsupported = unsupported;
    }

    pub fn fail_next(&self, method: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push_back((method.to_ascii_lowercase(), fault));
    }

    pub fn clear_faults(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    pub fn block(&self, chat: &str) {
        self.state
            .lock()
            .unwrap()
            .forbidden
            .insert(chat.to_string());
    }

    pub fn migrate(&self, chat: &str, new_id: i64) {
        self.state
            .lock()
            .unwrap()
            .migrated
            .insert(chat.to_string(), new_id);
    }

    pub fn set_admins(&self, chat: &str, users: &[i64]) {
        self.state
            .lock()
            .unwrap()
            .admins
            .insert(chat.to_string(), users.to_vec());
    }

    /// sendPhoto answers 400 "wrong file identifier/HTTP URL specified" for this URL, as
    /// Telegram does for a photo it cannot fetch.
    pub fn refuse_photo(&self, url: &str) {
        self.state
            .lock()
            .unwrap()
            .bad_photo_urls
            .insert(url.to_string());
    }

    /// Takes away (or gives back) the bot's right to pin messages in `chat`.
    pub fn set_pin_rights(&self, chat: &str, allowed: bool) {
        let mut state = self.state.lock().unwrap();
        if allowed {
            state.no_pin_rights.remove(chat);
        } else {
            state.no_pin_rights.insert(chat.to_string());
        }
    }

    /// Pins a message as an admin would (not through the bot).
    pub fn pin_by_hand(&self, chat: &str, message_id: i64) {
        self.state
            .lock()
            .unwrap()
            .pinned
            .entry(chat.to_string())
            .or_default()
            .push(message_id);
    }

    pub fn photos(&self) -> Vec<Photo> {
        self.state.lock().unwrap().photos.clone()
    }

    /// Message ids pinned in `chat` now, oldest first.
    pub fn pinned(&self, chat: &str) -> Vec<i64> {
        self.state
            .lock()
            .unwrap()
            .pinned
            .get(chat)
            .cloned()
            .unwrap_or_default()
    }

    pub fn pin_events(&self) -> Vec<PinEvent> {
        self.state.lock().unwrap().pin_events.clone()
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.state.lock().unwrap().sent.clone()
    }

    /// Messages delivered to one chat (by its key as sent: id or @username).
    pub fn sent_to(&self, chat: &str) -> Vec<Sent> {
        self.sent()
            .into_iter()
            .filter(|s| chat_key(&s.chat_id) == chat)
            .collect()
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        let method = method.to_ascii_lowercase();
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Waits until `method` has been called `count` times, or panics after `timeout`.
    pub async fn wait_calls(&self, method: &str, count: usize, timeout: Duration) -> Vec<Call> {
        let deadline = Instant::now() + timeout;
        loop {
            let calls = self.calls(method);
            if calls.len() >= count {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "{method} called {} times, not {count}",
                calls.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn rate_limited(&self) -> usize {
        self.state.lock().unwrap().rate_limited
    }

    /// Queues an update for getUpdates; returns its id.
    pub fn push_update(&self, mut update: Value) -> i64 {
        let mut state = self.state.lock().unwrap();
        let id = state.next_update_id;
        state.next_update_id += 1;
        update["update_id"] = json!(id);
        state.updates.push_back(update);
        id
    }

    /// A text message from `user` in `chat` (negative id: a group).
    pub fn push_text(&self, chat: i64, user: i64, text: &str) -> i64 {
        let chat_type = if chat < 0 { "supergroup" } else { "private" };
        let mut entities = Vec::new();
        if text.starts_with('/') {
            let len = text
                .split_whitespace()
                .next()
                .map_or(0, |c| c.encode_utf16().count());
            entities.push(json!({ "type": "bot_command", "offset": 0, "length": len }));
        }
        self.push_update(json!({
            "message": {
                "message_id": 1000 + chat.abs() % 1000,
                "date": 1_700_000_000,
                "chat": { "id": chat, "type": chat_type, "title": "Group", "first_name": "U" },
                "from": { "id": user, "is_bot": false, "first_name": "User" },
                "text": text,
                "entities": entities
            }
        }))
    }

    /// A press on an inline button. As Telegram does, the update carries the message the
    /// button is on, as the bot last sent or edited it (with its keyboard); a message id
    /// the bot never sent comes without one.
    pub fn push_callback(&self, chat: i64, user: i64, message_id: i64, data: &str) -> i64 {
        let markup = self
            .sent()
            .into_iter()
            .rev()
            .find(|s| s.message_id == message_id && s.chat_id.as_i64() == Some(chat))
            .and_then(|s| s.reply_markup);
        let mut update = json!({
            "callback_query": {
                "id": format!("cb{message_id}"),
                "from": { "id": user, "is_bot": false, "first_name": "User" },
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": 1_700_000_000,
                    "chat": { "id": chat, "type": if chat < 0 { "supergroup" } else { "private" }, "first_name": "U", "title": "Group" },
                    "from": { "id": BOT_ID, "is_bot": true, "first_name": "EcoBrief", "username": BOT_USERNAME },
                    "text": "…"
                }
            }
        });
        if let Some(markup) = markup {
            update["callback_query"]["message"]["reply_markup"] = markup;
        }
        self.push_update(update)
    }

    /// A press on a button of an ephemeral message. The update carries no `message`: the
    /// bot must not need it (the Bot API docs do not show what it holds for an
    /// ephemeral message).
    pub fn push_ephemeral_callback(&self, user: i64, data: &str) -> i64 {
        self.push_update(json!({
            "callback_query": {
                "id": format!("ecb{user}"),
                "from": { "id": user, "is_bot": false, "first_name": "User" },
                "chat_instance": "ci",
                "data": data
            }
        }))
    }

    /// Waits until `pred` holds over the messages sent, or panics after `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&[Sent]) -> bool,
    ) -> Vec<Sent> {
        let deadline = Instant::now() + timeout;
        loop {
            let sent = self.sent();
            if pred(&sent) {
                return sent;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out waiting for {what}; sent so far: {:#?}",
                    sent.iter()
                        .map(|s| (&s.chat_id, s.text.chars().take(40).collect::<String>()))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
