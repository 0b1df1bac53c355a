//! Commands for everyone: /start, /help, /topics, /topic (with paging), /brief.

use std::sync::Arc;

use chrono::NaiveDate;
use teloxide::types::{CallbackQuery, InlineKeyboardButtonKind, Message};

use super::context::{BotContext, HandlerResult, plain};
use crate::app::{AppError, TopicSubject};
use crate::compose::ComposeError;
use crate::message::{ChatRef, OutgoingMessage};
use crate::publish::botapi::{EphemeralRef, SendOptions};
use crate::publish::more_button;

/// Items per `/topic` page.
pub const PAGE_SIZE: usize = 5;
/// Longest topic name worth looking up.
pub const MAX_TOPIC_ARG_CHARS: usize = 40;
/// `/topics` counts items of the last this many days.
const TOPIC_COUNT_DAYS: u32 = 7;

pub async fn help(ctx: &BotContext, msg: &Message) -> HandlerResult {
    let admin = BotContext::is_private(msg) && ctx.is_admin(msg).await;
    let message = ctx
        .core
        .renderer
        .help(&ctx.core.settings.brief.group, admin)?;
    ctx.reply(msg, &message).await;
    Ok(())
}

pub async fn topics(ctx: &BotContext, msg: &Message) -> HandlerResult {
    let message = ctx
        .core
        .blocking(|core| -> Result<_, AppError> {
            let counts = core.topic_counts_since(Some(TOPIC_COUNT_DAYS))?;
            Ok(core.renderer.topic_list(&counts, TOPIC_COUNT_DAYS)?)
        })
        .await?;
    answer(ctx, msg, &message, None).await;
    Ok(())
}

/// Answers a member's `/topic` or `/topics`: in a group with `telegram.ephemeral_replies`,
/// as an ephemeral message only the asker sees (its 更多 button carries a token of
/// ours, see [`super::ephemeral`]); else as an ordinary reply. `paging` is the subject
/// and offset of the next page, when there is one.
async fn answer(
    ctx: &BotContext,
    msg: &Message,
    message: &OutgoingMessage,
    paging: Option<(&TopicSubject, usize)>,
) {
    let (chat, mut options) = super::context::reply_target(msg);
    let asker = msg.from.as_ref().and_then(|u| i64::try_from(u.id.0).ok());
    if let Some(asker) = asker
        .filter(|_| ctx.core.settings.telegram.ephemeral_replies && !BotContext::is_private(msg))
    {
        let token = ctx.ephemeral.token();
        let mut ephemeral = options.clone();
        ephemeral.ephemeral_to = Some(asker);
        ephemeral.reply_markup =
            paging.map(|(subject, next)| paging_button(Some(token), subject, next));
        match ctx.publisher.reply(&chat, message, ephemeral).await {
            Ok(ephemeral_message_id) => {
                ctx.ephemeral
                    .remember(
                        token,
                        EphemeralRef {
                            chat_id: msg.chat.id.0,
                            receiver: asker,
                            ephemeral_message_id,
                        },
                    )
                    .await;
                return;
            }
            // Refused as an ephemeral message: the group still gets its answer.
            Err(e) if e.refuses_rich() => {
                tracing::warn!(
                    "ephemeral answer refused in {} ({e}); answering in the group",
                    chat.key()
                );
            }
            Err(e) => {
                tracing::warn!("ephemeral answer to {}: {e}", chat.key());
                return;
            }
        }
    }
    options.reply_markup = paging.map(|(subject, next)| paging_button(None, subject, next));
    ctx.send(&chat, message, options).await;
}

/// What a "更多" button asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PageRequest {
    Topic(String),
    ImpactTarget(i64),
}

/// `callback_data` of the "更多" button, well under Telegram's 64 bytes whatever the
/// subject: `t:<topic id>:<offset>` (ids are at most 40 ASCII bytes), or
/// `i:<target id>:<offset>` with the store's number for an impact target, never its text
/// (a target can be long Chinese text, 3 bytes a character).
fn page_data(subject: &TopicSubject, offset: usize) -> String {
    match subject {
        TopicSubject::Topic { id } => format!("t:{id}:{offset}"),
        TopicSubject::ImpactTarget { id, .. } => format!("i:{id}:{offset}"),
    }
}

fn parse_page_data(data: &str) -> Option<(PageRequest, usize)> {
    let (kind, rest) = data.split_once(':')?;
    let (subject, offset) = rest.rsplit_once(':')?;
    let offset = offset.parse::<usize>().ok()?;
    let request = match kind {
        "t" if !subject.is_empty() => PageRequest::Topic(subject.to_string()),
        "i" => PageRequest::ImpactTarget(subject.parse().ok()?),
        _ => return None,
    };
    Some((request, offset))
}

pub async fn topic(ctx: &BotContext, msg: &Message, arg: &str) -> HandlerResult {
    let name = arg.trim();
    if name.is_empty() {
        return topics(ctx, msg).await;
    }
    if name.chars().count() > MAX_TOPIC_ARG_CHARS {
        answer(
            ctx,
            msg,
            &plain("专题名称太长了。发送 /topics 查看全部专题。"),
            None,
        )
        .await;
        return Ok(());
    }
    let owned = name.to_string();
    let page = ctx
        .core
        .blocking(move |core| core.topic_reply(&owned, PAGE_SIZE, 0))
        .await;
    match page {
        Ok(page) => {
            let paging = page.next_offset.map(|next| (&page.subject, next));
            answer(ctx, msg, &page.message, paging).await;
        }
        Err(AppError::UnknownTopic { suggestions, .. }) => {
            let text = format!(
                "{}\n发送 /topics 查看全部专题；影响标签里的对象（如 股市、通胀）也可以直接查询。",
                unknown_topic_text(name, &suggestions)
            );
            answer(ctx, msg, &plain(text), None).await;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The answer to a press that does not page: a button from before a restart that no
/// longer leads anywhere, or data that no button of ours carries.
const STALE_BUTTON: &str = "这个按钮已失效，请重新发送 /topic 和专题名。";
const NO_MORE_PAGES: &str = "没有更多内容了，请重新发送 /topic 查看最新内容。";
const PAGING_FAILED: &str = "暂时无法翻页，请稍后再试。";

/// Stops the button's spinner; `text` is shown to the user as a short notice.
async fn answer_press(ctx: &BotContext, query: &CallbackQuery, text: Option<&str>) {
    let mut answer = serde_json::json!({ "callback_query_id": query.id.0 });
    if let Some(text) = text {
        answer["text"] = serde_json::Value::from(text);
    }
    if let Err(e) = ctx
        .publisher
        .api()
        .call("answerCallbackQuery", &answer)
        .await
    {
        tracing::warn!("answerCallbackQuery: {e}");
    }
}

/// The message a "更多" press pages.
enum PressedMessage {
    /// An ordinary message of ours, edited by `editMessageText`.
    Regular { chat: ChatRef, message_id: i64 },
    /// An ephemeral answer, edited by `editEphemeralMessageText`; its buttons carry
    /// `token`.
    Ephemeral { reply: EphemeralRef, token: u64 },
}

impl PressedMessage {
    /// The button data that pages `subject` from `offset` on this message.
    fn button(&self, subject: &TopicSubject, offset: usize) -> serde_json::Value {
        let token = match self {
            PressedMessage::Regular { .. } => None,
            PressedMessage::Ephemeral { token, .. } => Some(*token),
        };
        paging_button(token, subject, offset)
    }
}

/// The "更多" button that pages `subject` from `offset`: on an ephemeral answer (`token`)
/// its data carries the token, see [`super::ephemeral`].
fn paging_button(token: Option<u64>, subject: &TopicSubject, offset: usize) -> serde_json::Value {
    let data = page_data(subject, offset);
    match token {
        Some(token) => more_button(&super::ephemeral::button_data(token, &data)),
        None => more_button(&data),
    }
}

/// The message a press is for and what it asks, when the press is one of ours: a regular
/// message of ours that carries exactly this button, or an ephemeral answer sent to the
/// member who pressed. A forged callback cannot rewrite some other message with a topic
/// page.
async fn pressed(
    ctx: &BotContext,
    query: &CallbackQuery,
    data: &str,
) -> Option<(PressedMessage, PageRequest, usize)> {
    if let Some((token, page)) = super::ephemeral::parse_button_data(data) {
        let reply = ctx.ephemeral.find(token).await?;
        let presser = i64::try_from(query.from.id.0).ok()?;
        if reply.receiver != presser {
            tracing::warn!(
                "refused a 更多 callback on an ephemeral answer sent to someone else (chat {})",
                reply.chat_id
            );
            return None;
        }
        let (request, offset) = parse_page_data(page)?;
        return Some((PressedMessage::Ephemeral { reply, token }, request, offset));
    }
    let message = query.message.as_ref().and_then(|m| m.regular_message())?;
    let ours = message
        .from
        .as_ref()
        .is_some_and(|u| u.username.as_deref() == Some(ctx.bot_username.as_str()));
    let carries_button = message.reply_markup().is_some_and(|markup| {
        markup.inline_keyboard.iter().flatten().any(
            |button| matches!(&button.kind, InlineKeyboardButtonKind::CallbackData(d) if d == data),
        )
    });
    if !(ours && carries_button) {
        tracing::warn!(
            "refused a 更多 callback for a message without that button (chat {})",
            message.chat.id.0
        );
        return None;
    }
    let (request, offset) = parse_page_data(data)?;
    let target = PressedMessage::Regular {
        chat: ChatRef::Id(message.chat.id.0),
        message_id: i64::from(message.id.0),
    };
    Some((target, request, offset))
}

/// A press on "更多": the next page replaces the message. Every press is answered; one
/// that cannot page (forged, stale, past the end) gets a short notice and edits nothing.
pub async fn more(query: CallbackQuery, ctx: Arc<BotContext>) -> HandlerResult {
    let data = query.data.as_deref().unwrap_or_default();
    let Some((target, request, offset)) = pressed(&ctx, &query, data).await else {
        answer_press(&ctx, &query, Some(STALE_BUTTON)).await;
        return Ok(());
    };
    let wanted = request.clone();
    // A quick read on a blocking thread; the press is answered after it (so the notice
    // can say why nothing changed) but before the edit, which waits for the pacer.
    let page = ctx
        .core
        .blocking(move |core| match wanted {
            PageRequest::Topic(id) => core.topic_page_by_id(&id, PAGE_SIZE, offset),
            PageRequest::ImpactTarget(id) => core.impact_page(id, PAGE_SIZE, offset),
        })
        .await;
    match page {
        // An offset the subject cannot reach (no items there) is not a page.
        Ok(Some(page)) if offset < page.total => {
            answer_press(&ctx, &query, None).await;
            let markup = page
                .next_offset
                .map(|next| target.button(&page.subject, next));
            let edited = match &target {
                PressedMessage::Regular { chat, message_id } => {
                    ctx.publisher
                        .edit(chat, *message_id, &page.message, markup)
                        .await
                }
                PressedMessage::Ephemeral { reply, .. } => {
                    ctx.publisher
                        .edit_ephemeral(reply, &page.message, markup)
                        .await
                }
            };
            if let Err(e) = edited {
                tracing::warn!("paging {request:?}: {e}");
            }
        }
        Ok(Some(_)) => {
            tracing::warn!("refused a 更多 callback past the end of {request:?}");
            answer_press(&ctx, &query, Some(NO_MORE_PAGES)).await;
        }
        Ok(None) => {
            tracing::warn!("refused a 更多 callback for {request:?}, which no longer exists");
            answer_press(&ctx, &query, Some(STALE_BUTTON)).await;
        }
        Err(e) => {
            tracing::warn!("paging {request:?}: {e}");
            answer_press(&ctx, &query, Some(PAGING_FAILED)).await;
        }
    }
    Ok(())
}

/// Parses an optional `YYYY-MM-DD`; `None` inside means "today".
pub fn parse_date_arg(arg: &str) -> Result<Option<NaiveDate>, String> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Ok(None);
    }
    arg.parse()
        .map(Some)
        .map_err(|_| format!("日期格式不对：{arg}。请用 YYYY-MM-DD，例如 2026-03-12"))
}

/// The brief of the day named by `arg` (today when empty). `None` when the argument is
/// not a date: the user has been told.
pub async fn brief_for_arg(
    ctx: &BotContext,
    msg: &Message,
    arg: &str,
) -> Option<Result<Vec<OutgoingMessage>, AppError>> {
    let date = match parse_date_arg(arg) {
        Ok(d) => d,
        Err(text) => {
            ctx.reply(msg, &plain(text)).await;
            return None;
        }
    };
    Some(
        ctx.core
            .blocking(move |core| {
                let date = date.unwrap_or_else(|| core.today());
                core.brief_messages(date).map(|(_, m)| m)
            })
            .await,
    )
}

/// "没有这个专题" with the closest matches.
pub fn unknown_topic_text(name: &str, suggestions: &[String]) -> String {
    let mut text = format!("没有这个专题：{name}");
    if !suggestions.is_empty() {
        text.push_str(&format!("\n你是不是想找：{}", suggestions.join("、")));
    }
    text
}

pub async fn brief(ctx: &BotContext, msg: &Message, arg: &str) -> HandlerResult {
    if !BotContext::is_private(msg) {
        let text = format!(
            "完整简报请私聊我获取：https://t.me/{}?start=brief ，然后发送 /brief",
            ctx.bot_username
        );
        ctx.reply(msg, &plain(text)).await;
        return Ok(());
    }
    let Some(result) = brief_for_arg(ctx, msg, arg).await else {
        return Ok(());
    };
    if ctx.core.settings.telegram.private_edition == crate::message::Edition::Rich {
        return rich_brief(ctx, msg, arg).await;
    }
    match result {
        Ok(messages) => {
            let chat = ChatRef::Id(msg.chat.id.0);
            for message in &messages {
                if ctx
                    .send(&chat, message, SendOptions::default())
                    .await
                    .is_none()
                {
                    break;
                }
            }
        }
        Err(AppError::Compose(ComposeError::NoItems(day))) => {
            ctx.reply(msg, &plain(format!("{day} 还没有简报内容。")))
                .await;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// `/brief` when `telegram.private_edition = "rich"`: the rich edition; when the Bot API
/// refuses a rich message, the text edition of it and of what follows.
async fn rich_brief(ctx: &BotContext, msg: &Message, arg: &str) -> HandlerResult {
    let Ok(date) = parse_date_arg(arg) else {
        return Ok(());
    };
    let result = ctx
        .core
        .blocking(move |core| {
            let date = date.unwrap_or_else(|| core.today());
            core.brief_rich(date).map(|(_, parts)| parts)
        })
        .await;
    let parts = match result {
        Ok(parts) => parts,
        Err(AppError::Compose(ComposeError::NoItems(day))) => {
            ctx.reply(msg, &plain(format!("{day} 还没有简报内容。")))
                .await;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let chat = ChatRef::Id(msg.chat.id.0);
    send_rich_parts(ctx, &chat, &parts).await;
    Ok(())
}

/// Sends rich parts in order to a private chat; on a refusal of the rich message, the rest
/// goes as text (numbered when more than one).
pub async fn send_rich_parts(ctx: &BotContext, chat: &ChatRef, parts: &[crate::render::RichPart]) {
    for (i, part) in parts.iter().enumerate() {
        let body = crate::message::PartBody::Rich(part.message.clone());
        match ctx
            .publisher
            .reply_part(chat, &body, SendOptions::default())
            .await
        {
            Ok(_) => {}
            Err(e) if e.refuses_rich() => {
                tracing::warn!("{}: rich message refused ({e}); sending text", chat.key());
                let mut texts: Vec<OutgoingMessage> = parts[i..]
                    .iter()
                    .flat_map(|p| p.fallback.iter().cloned())
                    .collect();
                let total = texts.len();
                for (n, text) in texts.iter_mut().enumerate() {
                    if total > 1 {
                        text.text.push_str(&format!("\n\n({}/{total})", n + 1));
                    }
                }
                for text in &texts {
                    if ctx.send(chat, text, SendOptions::default()).await.is_none() {
                        return;
                    }
                }
                return;
            }
            Err(e) => {
                tracing::warn!("reply to {}: {e}", chat.key());
                return;
            }
        }
    }
}
