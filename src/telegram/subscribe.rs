//! /subscribe, /unsubscribe, /subscriptions: private chats only.

use teloxide::types::Message;

use super::context::{BotContext, HandlerResult, plain};
use super::member::{MAX_TOPIC_ARG_CHARS, unknown_topic_text};
use crate::app::{AppError, Core};
use crate::topics::Topic;

fn user_id(msg: &Message) -> Option<i64> {
    msg.from.as_ref().and_then(|u| i64::try_from(u.id.0).ok())
}

async fn private_only(ctx: &BotContext, msg: &Message) -> bool {
    if BotContext::is_private(msg) {
        return true;
    }
    let text = format!("订阅请私聊我：https://t.me/{}", ctx.bot_username);
    ctx.reply(msg, &plain(text)).await;
    false
}

/// The topic `name` names, or the reply to give when it names none.
fn topic_or_reply(app: &Core, name: &str) -> Result<Result<Topic, String>, AppError> {
    if name.chars().count() > MAX_TOPIC_ARG_CHARS {
        return Ok(Err(
            "专题名称太长了。发送 /topics 查看全部专题。".to_string()
        ));
    }
    match app.resolve_topic(name) {
        Ok(t) => Ok(Ok(t.clone())),
        Err(AppError::UnknownTopic { suggestions, .. }) => {
            Ok(Err(unknown_topic_text(name, &suggestions)))
        }
        Err(e) => Err(e),
    }
}

pub async fn subscribe(ctx: &BotContext, msg: &Message, arg: &str) -> HandlerResult {
    if !private_only(ctx, msg).await {
        return Ok(());
    }
    let (Some(user), name) = (user_id(msg), arg.trim()) else {
        return Ok(());
    };
    if name.is_empty() {
        ctx.reply(msg, &plain("用法：/subscribe 专题名称，如 /subscribe 黄金"))
            .await;
        return Ok(());
    }
    let (name, chat) = (name.to_string(), msg.chat.id.0);
    let text = ctx
        .core
        .blocking(move |app| -> Result<String, AppError> {
            let topic = match topic_or_reply(app, &name)? {
                Ok(topic) => topic,
                Err(reply) => return Ok(reply),
            };
            let added = app
                .db
                .with(|store| store.subscribe(user, chat, &topic.id))?;
            Ok(if added {
                format!(
                    "已订阅「{}」。每天简报发布后，你会收到一条相关摘要。",
                    topic.name
                )
            } else {
                format!("你已经订阅了「{}」。", topic.name)
            })
        })
        .await?;
    ctx.reply(msg, &plain(text)).await;
    Ok(())
}

pub async fn unsubscribe(ctx: &BotContext, msg: &Message, arg: &str) -> HandlerResult {
    if !private_only(ctx, msg).await {
        return Ok(());
    }
    let (Some(user), name) = (user_id(msg), arg.trim()) else {
        return Ok(());
    };
    let name = name.to_string();
    let text = ctx
        .core
        .blocking(move |app| -> Result<String, AppError> {
            let topic = match topic_or_reply(app, &name)? {
                Ok(topic) => topic,
                Err(reply) => return Ok(reply),
            };
            Ok(
                if app.db.with(|store| store.unsubscribe(user, &topic.id))? {
                    format!("已取消订阅「{}」。", topic.name)
                } else {
                    format!("你没有订阅「{}」。", topic.name)
                },
            )
        })
        .await?;
    ctx.reply(msg, &plain(text)).await;
    Ok(())
}

pub async fn list(ctx: &BotContext, msg: &Message) -> HandlerResult {
    if !private_only(ctx, msg).await {
        return Ok(());
    }
    let Some(user) = user_id(msg) else {
        return Ok(());
    };
    let text = ctx
        .core
        .blocking(move |app| -> Result<String, AppError> {
            let ids = app.db.with(|store| store.subscriptions(user))?;
            if ids.is_empty() {
                return Ok("你还没有订阅任何专题。发送 /subscribe 黄金 试试。".to_string());
            }
            let names: Vec<String> = ids
                .iter()
                .map(|id| app.topics.get(id).map_or(id.clone(), |t| t.name.clone()))
                .collect();
            Ok(format!("你的订阅：{}", names.join("、")))
        })
        .await?;
    ctx.reply(msg, &plain(text)).await;
    Ok(())
}
