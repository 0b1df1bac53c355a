//! Ephemeral answers (`telegram.ephemeral_replies`): `/topic` and `/topics` in a group
//! answered with a message only the member who asked sees (Bot API 10.2, parameters as
//! reshaped in 10.3: `ephemeral_message_parameters.receiver_user_id`).
//!
//! A "更多" press on such an answer must be edited with `editEphemeralMessageText`, which
//! takes the chat, the receiver and the `ephemeral_message_id`. The button cannot carry
//! that id (it is only known once the message is sent), so it carries a short token of
//! ours, and this registry maps the token to the message. The press is honoured only for
//! the member the message was sent to. Nothing depends on the callback's `message` field,
//! whose shape for ephemeral messages we cannot check here.
//!
//! The registry lives in memory and is bounded: after a restart, or once
//! [`MAX_REMEMBERED`] newer answers have been sent, an old button answers "这个按钮已失效".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::publish::botapi::EphemeralRef;

/// Ephemeral answers remembered for paging.
pub const MAX_REMEMBERED: usize = 10_000;

/// The callback-data prefix of a button on an ephemeral answer: `e<token>:<page data>`.
const PREFIX: char = 'e';

pub struct EphemeralReplies {
    next: AtomicU64,
    /// Token → the message it pages. An async lock, held only to insert or look up.
    sent: tokio::sync::Mutex<BTreeMap<u64, EphemeralRef>>,
}

impl Default for EphemeralReplies {
    fn default() -> Self {
        EphemeralReplies::new()
    }
}

impl EphemeralReplies {
    pub fn new() -> EphemeralReplies {
        // Seeded with the start time, so a button from before a restart rarely meets a
        // token handed out after it (and if it does, only its own receiver may press it).
        let seed = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(1);
        EphemeralReplies {
            next: AtomicU64::new(seed),
            sent: tokio::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// A token for the next answer.
    pub fn token(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Remembers the answer sent under `token`, forgetting the oldest past the bound.
    pub async fn remember(&self, token: u64, message: EphemeralRef) {
        let mut sent = self.sent.lock().await;
        sent.insert(token, message);
        while sent.len() > MAX_REMEMBERED {
            sent.pop_first();
        }
    }

    /// The answer `token` was sent as, if still remembered.
    pub async fn find(&self, token: u64) -> Option<EphemeralRef> {
        self.sent.lock().await.get(&token).copied()
    }
}

/// Callback data of a paging button on an ephemeral answer (base 36 keeps the token to 6
/// characters, so the data stays under Telegram's 64 bytes with a 40-byte topic id).
pub fn button_data(token: u64, page_data: &str) -> String {
    format!("{PREFIX}{}:{page_data}", base36(token))
}

/// The token and the page data of a button on an ephemeral answer; `None` for any other
/// data.
pub fn parse_button_data(data: &str) -> Option<(u64, &str)> {
    let rest = data.strip_prefix(PREFIX)?;
    let (token, page) = rest.split_once(':')?;
    let token = u64::from_str_radix(token, 36).ok()?;
    Some((token, page))
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_data_round_trips_and_fits_telegram() {
        let token = 1_800_000_000_u64;
        let page = format!("t:{}:99995", "x".repeat(40));
        let data = button_data(token, &page);
        assert!(data.len() <= 64, "{} bytes", data.len());
        assert_eq!(parse_button_data(&data), Some((token, page.as_str())));
        // Data of an ordinary button is not taken for an ephemeral one.
        assert_eq!(parse_button_data("t:gold:5"), None);
        assert_eq!(parse_button_data("i:3:5"), None);
        assert_eq!(parse_button_data("ezz!:t:gold:5"), None);
    }

    #[tokio::test]
    async fn remembers_a_bounded_number_of_answers() {
        let replies = EphemeralReplies::new();
        let first = replies.token();
        let message = EphemeralRef {
            chat_id: -100,
            receiver: 42,
            ephemeral_message_id: 1,
        };
        replies.remember(first, message).await;
        assert_eq!(replies.find(first).await, Some(message));
        for _ in 0..MAX_REMEMBERED {
            let token = replies.token();
            replies.remember(token, message).await;
        }
        assert_eq!(replies.find(first).await, None, "the oldest is forgotten");
        assert_eq!(replies.sent.lock().await.len(), MAX_REMEMBERED);
    }
}
