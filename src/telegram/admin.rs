//! Admin commands: /post, /preview, /status, /ingest. Anyone else gets a polite refusal,
//! the attempt is logged, and nothing happens.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use teloxide::types::Message;

use super::context::{BotContext, HandlerResult, plain};
use super::member::{brief_for_arg, parse_date_arg};
use crate::app::{AppError, Core};
use crate::ingest::text::shorten;
use crate::message::ChatRef;
use crate::publish::botapi::{ApiError, SendOptions};
use crate::publish::{PublishError, Trigger};
use crate::runner::PublishOutcome;
use crate::sources::{Outcome, SourceReport, SourcesReport};
use crate::store::days::DayOutcome;
use crate::store::delivery::PublicationState;

const REFUSAL: &str = "抱歉，这个命令仅限管理员使用。";

async fn admin_only(ctx: &BotContext, msg: &Message, command: &str) -> bool {
    if ctx.is_admin(msg).await {
        return true;
    }
    let who = msg.from.as_ref().map_or(0, |u| u.id.0);
    tracing::warn!(
        "refused /{command} from user {who} in chat {}",
        msg.chat.id.0
    );
    ctx.reply(msg, &plain(REFUSAL)).await;
    false
}

/// `[YYYY-MM-DD] [force]` in any order.
fn post_args(args: &str) -> Result<(Option<NaiveDate>, bool), String> {
    let mut date = None;
    let mut force = false;
    for word in args.split_whitespace() {
        if word.eq_ignore_ascii_case("force") {
            force = true;
        } else {
            date = parse_date_arg(word)?;
        }
    }
    Ok((date, force))
}

fn user_id(msg: &Message) -> i64 {
    msg.from
        .as_ref()
        .and_then(|u| i64::try_from(u.id.0).ok())
        .unwrap_or(0)
}

pub async fn post(ctx: &Arc<BotContext>, msg: &Message, args: &str) -> HandlerResult {
    if !admin_only(ctx, msg, "post").await {
        return Ok(());
    }
    let (date, force) = match post_args(args) {
        Ok(a) => a,
        Err(text) => {
            ctx.reply(msg, &plain(text)).await;
            return Ok(());
        }
    };
    let date = date.unwrap_or_else(|| ctx.core.today());
    ctx.reply(
        msg,
        &plain(format!("开始发布 {date} 的简报（先读取来源）…")),
    )
    .await;
    // Posting takes a while (reading the sources, paced parts, digests): it runs on its
    // own so this chat's other commands are not held up.
    let ctx = Arc::clone(ctx);
    let msg = msg.clone();
    tokio::spawn(async move {
        let trigger = Trigger::Command {
            user_id: user_id(&msg),
        };
        let text = match ctx.jobs.publish(date, trigger, force).await {
            Some(Ok(PublishOutcome::Posted { report, with_brief })) => {
                let note = if with_brief {
                    ""
                } else {
                    "\n（这一天没有简报正文，发布的是已有的其他内容。）"
                };
                if report.complete() {
                    format!("✅ {date} 已发布。{note}\n{}", report.summary())
                } else {
                    format!("⚠️ {date} 未全部发布。{note}\n{}", report.summary())
                }
            }
            Some(Ok(_)) | Some(Err(PublishError::AlreadyPosted(_))) => {
                format!("{date} 的简报已经发布过了。如需重发：/post {date} force")
            }
            Some(Err(PublishError::App(AppError::Compose(
                crate::compose::ComposeError::NoItems(_),
            )))) => {
                format!("{date} 没有任何内容可发布（没有简报，也没有其他条目），未记录为已发布。")
            }
            Some(Err(e)) => format!("发布失败：{e}"),
            None => "正在停止，未发布。".to_string(),
        };
        ctx.reply(&msg, &plain(text)).await;
    });
    Ok(())
}

pub async fn preview(ctx: &BotContext, msg: &Message, args: &str) -> HandlerResult {
    if !admin_only(ctx, msg, "preview").await {
        return Ok(());
    }
    let Some(result) = brief_for_arg(ctx, msg, args).await else {
        return Ok(());
    };
    let messages = match result {
        Ok(m) => m,
        Err(e) => {
            ctx.reply(msg, &plain(format!("无法预览：{e}"))).await;
            return Ok(());
        }
    };
    if msg.sender_chat.is_some() {
        ctx.reply(
            msg,
            &plain("匿名管理员无法接收私聊预览；请以个人身份发送 /preview，或私聊我。"),
        )
        .await;
        return Ok(());
    }
    let private = ChatRef::Id(user_id(msg));
    for message in &messages {
        match ctx
            .publisher
            .reply(&private, message, SendOptions::default())
            .await
        {
            Ok(_) => {}
            Err(ApiError::Forbidden(_)) | Err(ApiError::BadRequest(_)) => {
                let text = format!(
                    "请先私聊我（https://t.me/{}）发送 /start，再使用 /preview。",
                    ctx.bot_username
                );
                ctx.reply(msg, &plain(text)).await;
                return Ok(());
            }
            Err(e) => {
                ctx.reply(msg, &plain(format!("预览发送失败：{e}"))).await;
                return Ok(());
            }
        }
    }
    // With a rich target, each target's edition is said, then the rich edition follows.
    let targets = &ctx.core.settings.telegram.targets;
    if targets
        .iter()
        .any(|t| t.edition == crate::message::Edition::Rich)
    {
        let lines: Vec<String> = targets
            .iter()
            .map(|t| format!("{}：{}", t.chat, t.edition.as_str()))
            .collect();
        ctx.publisher
            .reply(
                &private,
                &plain(format!("各目标的版本：\n{}", lines.join("\n"))),
                SendOptions::default(),
            )
            .await
            .ok();
        let date = super::member::parse_date_arg(args).ok().flatten();
        let rich = ctx
            .core
            .blocking(move |core| {
                let date = date.unwrap_or_else(|| core.today());
                core.brief_rich(date).map(|(_, parts)| parts)
            })
            .await;
        match rich {
            Ok(parts) => super::member::send_rich_parts(ctx, &private, &parts).await,
            Err(e) => {
                ctx.reply(msg, &plain(format!("富文本版无法预览：{e}")))
                    .await;
            }
        }
    }
    if !BotContext::is_private(msg) {
        ctx.reply(msg, &plain("预览已私聊发给你。")).await;
    }
    Ok(())
}

fn local(at: i64, core: &Core) -> String {
    DateTime::<Utc>::from_timestamp(at, 0)
        .map(|t| {
            t.with_timezone(&core.settings.tz)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "?".to_string())
}

/// Longest error text `/status` and `/ingest` show for one source; the log has it whole.
const STATUS_ERROR_CHARS: usize = 300;

/// At most this many sources of each kind (failing, the others) are listed by name in
/// `/status` and `/ingest`; the counts come first and cover them all.
const LISTED_SOURCES: usize = 10;

/// Appends up to [`LISTED_SOURCES`] of `lines`, each cut to [`STATUS_ERROR_CHARS`], then
/// `…另有 K 个{what}` for the rest.
fn push_bounded(out: &mut String, lines: &[String], what: &str) {
    for line in lines.iter().take(LISTED_SOURCES) {
        out.push('\n');
        out.push_str(&shorten(line, STATUS_ERROR_CHARS));
    }
    if lines.len() > LISTED_SOURCES {
        out.push_str(&format!(
            "\n…另有 {} 个{what}",
            lines.len() - LISTED_SOURCES
        ));
    }
}

/// The sources part of `/status`: counts, then the failing sources (last success,
/// failures in a row, last error), then the others, each list bounded.
fn source_lines(
    core: &Core,
    store: &crate::store::Store,
) -> Result<String, crate::store::StoreError> {
    if core.settings.sources.is_empty() {
        return Ok(String::new());
    }
    let mut states: std::collections::HashMap<String, crate::store::sources::SourceState> = store
        .source_states()?
        .into_iter()
        .map(|s| (s.source.clone(), s))
        .collect();
    let (mut failing, mut healthy, mut unread) = (Vec::new(), Vec::new(), 0usize);
    for source in &core.settings.sources {
        let id = &source.id;
        let state = states.remove(id).unwrap_or_default();
        let success = state.last_success.map_or_else(
            || "从未成功".to_string(),
            |t| format!("上次成功 {}", local(t, core)),
        );
        if state.consecutive_failures > 0 {
            failing.push(format!(
                "· {id}：{success}，连续失败 {} 次：{}",
                state.consecutive_failures,
                state.last_error.as_deref().unwrap_or("?")
            ));
        } else if state.last_success.is_some() {
            healthy.push(format!("· {id}：{success}，正常"));
        } else {
            unread += 1;
            healthy.push(format!("· {id}：{success}，尚未读取"));
        }
    }
    let mut out = format!(
        "\n来源 {} 个：正常 {}，失败 {}，尚未读取 {unread}",
        core.settings.sources.len(),
        healthy.len() - unread,
        failing.len()
    );
    push_bounded(&mut out, &failing, "失败的来源");
    push_bounded(&mut out, &healthy, "其他来源");
    Ok(out)
}

/// Sends `text` in as many messages as Telegram needs, cut by the brief's splitter: a
/// long report arrives in parts rather than being refused.
async fn reply_in_parts(ctx: &BotContext, msg: &Message, text: &str) {
    for part in ctx.core.renderer.plain_messages(text) {
        if ctx.reply(msg, &part).await.is_none() {
            break;
        }
    }
}

/// Today's state of one target, for `/status`.
fn day_line(
    core: &Core,
    store: &crate::store::Store,
    target: &crate::settings::Target,
    today: chrono::NaiveDate,
) -> Result<String, crate::store::StoreError> {
    let (chat, thread) = (target.chat_key(), target.thread());
    let posted = store.latest_publication(today, &chat, thread)?;
    let plan = store.day_plan(today, &chat, thread)?;
    let state = match (&plan, &posted) {
        (_, Some(p)) if p.state == PublicationState::Done => format!(
            "已发布{}",
            p.finished_at
                .map(|t| format!("（{}）", local(t, core)))
                .unwrap_or_default()
        ),
        (_, Some(p)) if p.state == PublicationState::Pending => "发布中".to_string(),
        (_, Some(p)) => format!("发布失败：{}", p.last_error.as_deref().unwrap_or("?")),
        (Some(plan), None) => match plan.outcome {
            Some(DayOutcome::Skipped) => "已跳过（简报未到）".to_string(),
            Some(DayOutcome::Empty) => "没有内容，未发布".to_string(),
            Some(DayOutcome::Failed) => "发布失败".to_string(),
            Some(DayOutcome::Posted) => "已发布".to_string(),
            None => match plan.waiting_since {
                Some(since) => format!(
                    "等待简报（自 {} 起，最晚 {}）",
                    local(since, core),
                    local(plan.deadline, core)
                ),
                None => "即将发布".to_string(),
            },
        },
        (None, None) => "尚未到发布时间".to_string(),
    };
    let thread = if thread != 0 {
        format!(" #{thread}")
    } else {
        String::new()
    };
    Ok(shorten(
        &format!("\n· {chat}{thread}：{state}"),
        STATUS_ERROR_CHARS,
    ))
}

pub async fn status(ctx: &BotContext, msg: &Message) -> HandlerResult {
    if !admin_only(ctx, msg, "status").await {
        return Ok(());
    }
    let uptime = ctx.started.elapsed().as_secs();
    let schedule = &ctx.core.settings.schedule;
    let when = |t: Option<DateTime<Utc>>| {
        t.map(|t| local(t.timestamp(), &ctx.core))
            .unwrap_or_else(|| "未排定".to_string())
    };
    let next_publish = when(ctx.next_run(&schedule.publish));
    let next_ingest = when(ctx.next_run(&schedule.ingest));
    let text = ctx
        .core
        .blocking(move |core| -> Result<String, AppError> {
            let store = core.db.get()?;
            let today = core.today();
            let last = match store.last_publication()? {
                Some(p) => format!(
                    "{}（{}）→ {}：{}，{} 条，重试 {}，失败 {}{}",
                    p.key.brief_date,
                    p.trigger,
                    p.key.chat,
                    match p.state {
                        PublicationState::Done => "已完成",
                        PublicationState::Pending => "进行中",
                        PublicationState::Failed => "失败",
                    },
                    p.parts,
                    p.retries,
                    p.failures,
                    p.finished_at
                        .map(|t| format!("，完成于 {}", local(t, core)))
                        .unwrap_or_default()
                ),
                None => "还没有发布过".to_string(),
            };
            let mut days = String::new();
            for target in &core.settings.telegram.targets {
                days.push_str(&day_line(core, &store, target, today)?);
            }
            let brief = match store.last_brief_arrival()? {
                Some((day, at)) => format!("{day} 的简报，{} 到达", local(at, core)),
                None => "还没有收到过简报".to_string(),
            };
            let sources = source_lines(core, &store)?;
            Ok(format!(
                "📊 运行状态\n今天（{today}）：{days}\n上次发布：{last}\n最近的简报：{brief}\n下次定时发布：{next_publish}\n下次读取来源：{next_ingest}\n今天已存条目：{}\n订阅用户：{}\n版本：{}\n已运行：{}小时{}分{sources}",
                store.item_count_for_date(today)?,
                store.subscriber_count()?,
                env!("CARGO_PKG_VERSION"),
                uptime / 3600,
                uptime % 3600 / 60
            ))
        })
        .await?;
    reply_in_parts(ctx, msg, &text).await;
    Ok(())
}

/// At most this many per-file or per-entry problem lines in the `/ingest` reply.
const INGEST_PROBLEM_LINES: usize = 5;

pub async fn ingest(ctx: &BotContext, msg: &Message) -> HandlerResult {
    if !admin_only(ctx, msg, "ingest").await {
        return Ok(());
    }
    ctx.reply(msg, &plain("📥 正在抓取全部来源，稍候…")).await;
    // Forced: every source is polled now, whatever its interval. Health changes are told
    // to admins as on the schedule, so a failing source is announced once either way.
    let Some(report) = ctx.jobs.ingest(true).await else {
        return Ok(());
    };
    let text = ingest_report_text(&report);
    reply_in_parts(ctx, msg, &text).await;
    Ok(())
}

/// The `/ingest` reply: counts first, then the failing sources and the others (each list
/// bounded), then the first per-file problems.
fn ingest_report_text(report: &SourcesReport) -> String {
    let count = |wanted: &[Outcome]| {
        report
            .sources
            .iter()
            .filter(|s| wanted.contains(&s.outcome))
            .count()
    };
    let succeeded = count(&[Outcome::Ingested, Outcome::Unchanged, Outcome::NotModified]);
    let skipped = count(&[Outcome::Skipped]);
    let late = count(&[Outcome::Late]);
    let mut text = format!(
        "📥 读取完成。来源 {} 个：成功 {succeeded}，失败 {}",
        report.sources.len(),
        report.failed()
    );
    if skipped > 0 {
        text.push_str(&format!("，跳过 {skipped}"));
    }
    if late > 0 {
        text.push_str(&format!("，仍在抓取 {late}"));
    }
    text.push_str(&format!("；新增或更新 {} 条", report.new_items()));
    if report.sources.is_empty() {
        text.push_str("\n配置中没有来源（[[sources]]）。");
        return text;
    }
    let (failed, others): (Vec<&SourceReport>, Vec<&SourceReport>) = report
        .sources
        .iter()
        .partition(|s| s.outcome == Outcome::Failed);
    let lines = |sources: Vec<&SourceReport>| -> Vec<String> {
        sources.iter().map(|s| s.summary_line()).collect()
    };
    push_bounded(&mut text, &lines(failed), "失败的来源（见 /status 与日志）");
    push_bounded(&mut text, &lines(others), "其他来源");
    let problems = report
        .sources
        .iter()
        .flat_map(|s| s.lines.iter())
        .filter(|l| !l.starts_with("ok "));
    for line in problems.take(INGEST_PROBLEM_LINES) {
        text.push('\n');
        text.push_str(&shorten(line, STATUS_ERROR_CHARS));
    }
    text
}
