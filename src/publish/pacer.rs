//! Pacing: we space messages ourselves (per chat, and over all chats) so that Telegram
//! rarely needs to answer 429, instead of relying on a client that retries 429s forever.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct PaceLimits {
    pub group_interval: Duration,
    pub private_interval: Duration,
    pub global_per_second: u32,
}

#[derive(Debug, Default)]
struct PaceState {
    /// When each chat may next be written to.
    next_for_chat: HashMap<String, Instant>,
    /// Send times within the last second, over all chats.
    recent: VecDeque<Instant>,
    /// When the next message to any chat may go out: sends are spread evenly over the
    /// second rather than let out in bursts, so jitter on the way does not push 31
    /// requests into one of Telegram's seconds.
    next_any: Option<Instant>,
}

#[derive(Debug)]
pub struct Pacer {
    limits: PaceLimits,
    /// An async lock, held for a few comparisons and never across a wait.
    state: tokio::sync::Mutex<PaceState>,
}

impl Pacer {
    pub fn new(limits: PaceLimits) -> Pacer {
        Pacer {
            limits,
            state: tokio::sync::Mutex::new(PaceState::default()),
        }
    }

    /// Waits until a message to `chat` may go out, and books that slot.
    pub async fn wait(&self, chat: &str, is_group: bool) {
        loop {
            let wake = {
                let mut state = self.state.lock().await;
                let now = Instant::now();
                while state
                    .recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                {
                    state.recent.pop_front();
                }
                let chat_ready = state.next_for_chat.get(chat).copied().unwrap_or(now);
                let global_ready = if state.recent.len() < self.limits.global_per_second as usize {
                    now
                } else {
                    state
                        .recent
                        .front()
                        .map_or(now, |t| *t + Duration::from_secs(1))
                };
                let ready = chat_ready
                    .max(global_ready)
                    .max(state.next_any.unwrap_or(now));
                if ready <= now {
                    // A little under 1/rate: timer wake-ups run late by up to a
                    // millisecond, and the one-second window above still caps the rate.
                    let spacing = Duration::from_millis(960) / self.limits.global_per_second.max(1);
                    state.next_any = Some(now + spacing);
                    let interval = if is_group {
                        self.limits.group_interval
                    } else {
                        self.limits.private_interval
                    };
                    state.next_for_chat.insert(chat.to_string(), now + interval);
                    state.recent.push_back(now);
                    return;
                }
                ready
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Telegram asked this chat to wait: no message to it before `after`.
    pub async fn hold(&self, chat: &str, after: Duration) {
        let mut state = self.state.lock().await;
        let until = Instant::now() + after;
        let entry = state.next_for_chat.entry(chat.to_string()).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_one_chat_and_caps_all_chats() {
        let pacer = Pacer::new(PaceLimits {
            group_interval: Duration::from_secs(3),
            private_interval: Duration::from_millis(0),
            global_per_second: 5,
        });
        let start = Instant::now();
        for _ in 0..3 {
            pacer.wait("-100", true).await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(6));
        let start = Instant::now();
        for i in 0..10 {
            pacer.wait(&i.to_string(), false).await;
        }
        assert!(
            start.elapsed() >= Duration::from_secs(1),
            "10 messages at 5/s take a second"
        );
    }
}
