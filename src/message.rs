//! The messages the pipeline hands to Telegram: text with entities, and where they go.
//! These types import nothing of ours, so every stage (store, render, publish, the edges)
//! can name them without reaching into another stage.

use serde::{Deserialize, Serialize};

/// A Bot API `MessageEntity`, offsets in UTF-16 code units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEntity {
    #[serde(rename = "type")]
    pub kind: String,
    pub offset: usize,
    pub length: usize,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub language: Option<String>,
    /// For `date_time` only: the instant the client shows in the reader's own zone.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unix_time: Option<i64>,
    /// For `date_time` only: how the client formats it (`r|w?[dD]?[tT]?`; empty shows the
    /// text as written).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub date_time_format: Option<String>,
}

/// A message ready for `sendMessage` (`text` + `entities`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMessage {
    pub text: String,
    pub entities: Vec<MessageEntity>,
}

impl OutgoingMessage {
    /// Text without formatting.
    pub fn plain(text: impl Into<String>) -> OutgoingMessage {
        OutgoingMessage {
            text: text.into(),
            entities: Vec::new(),
        }
    }
}

/// A rich message (Bot API 10.1 `sendRichMessage`): its content as the HTML the API
/// parses, sent as `{"rich_message": {"html": …, "media": […]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichMessage {
    pub html: String,
    /// Photos the HTML shows with `<img src="tg://photo?id=…">` (the `media` field of
    /// `InputRichMessage`, Bot API 10.2). Recorded rich parts from before it have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<RichPhoto>,
}

/// A photo of a rich message: the id its `tg://photo?id=` link uses, and the http(s)
/// URL Telegram fetches it from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichPhoto {
    pub id: String,
    pub url: String,
}

impl RichMessage {
    pub fn html(html: String) -> RichMessage {
        RichMessage {
            html,
            media: Vec::new(),
        }
    }

    /// The same message without its photos (the Bot API could not fetch one): every
    /// `<img>` of ours goes with them.
    pub fn without_media(&self) -> RichMessage {
        let mut html = self.html.clone();
        for photo in &self.media {
            html = html.replace(&photo_tag(&photo.id), "");
        }
        RichMessage::html(html)
    }
}

/// The rich HTML that shows photo `id` of the message's media.
pub fn photo_tag(id: &str) -> String {
    format!("<img src=\"tg://photo?id={id}\">\n")
}

/// Which edition of the brief a chat gets: text messages with entities, or rich messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Edition {
    #[default]
    Text,
    Rich,
}

impl Edition {
    /// The name in the config and in the delivery record.
    pub fn as_str(self) -> &'static str {
        match self {
            Edition::Text => "text",
            Edition::Rich => "rich",
        }
    }

    pub fn parse(text: &str) -> Option<Edition> {
        match text {
            "text" => Some(Edition::Text),
            "rich" => Some(Edition::Rich),
            _ => None,
        }
    }
}

/// One part of a post as it is sent: a text message or a rich message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartBody {
    Text(OutgoingMessage),
    Rich(RichMessage),
}

impl PartBody {
    pub fn edition(&self) -> Edition {
        match self {
            PartBody::Text(_) => Edition::Text,
            PartBody::Rich(_) => Edition::Rich,
        }
    }
}

/// Where a message goes: a numeric chat id or a public `@username`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChatRef {
    Id(i64),
    Username(String),
}

impl ChatRef {
    /// A numeric id (`-1001234567890`) or an `@username` of letters, digits and `_`.
    pub fn parse(text: &str) -> Option<ChatRef> {
        let text = text.trim();
        if let Ok(id) = text.parse::<i64>() {
            return Some(ChatRef::Id(id));
        }
        let name = text.strip_prefix('@')?;
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then(|| ChatRef::Username(text.to_string()))
    }

    /// Private chats have positive ids; groups, supergroups and channels negative ids or
    /// a username. Pacing is stricter for groups.
    pub fn is_group(&self) -> bool {
        match self {
            ChatRef::Id(id) => *id < 0,
            ChatRef::Username(_) => true,
        }
    }

    /// The text form, as written in the config and kept in the delivery record.
    pub fn key(&self) -> String {
        match self {
            ChatRef::Id(id) => id.to_string(),
            ChatRef::Username(name) => name.clone(),
        }
    }

    pub fn id(&self) -> Option<i64> {
        match self {
            ChatRef::Id(id) => Some(*id),
            ChatRef::Username(_) => None,
        }
    }
}

impl std::fmt::Display for ChatRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}
