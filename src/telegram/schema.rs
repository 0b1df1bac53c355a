//! The commands and the one dptree schema that routes updates to their handlers.

use std::sync::Arc;

use teloxide::dispatching::{HandlerExt, UpdateFilterExt, UpdateHandler};
use teloxide::prelude::*;
use teloxide::utils::command::BotCommands;

use super::context::BotContext;
use super::{admin, member, subscribe};

/// Member commands (shown to everyone).
#[derive(BotCommands, Clone, Debug, PartialEq, Eq)]
#[command(rename_rule = "lowercase")]
pub enum Command {
    #[command(description = "开始使用")]
    Start(String),
    #[command(description = "帮助与命令列表")]
    Help,
    #[command(description = "全部专题")]
    Topics,
    #[command(description = "专题最新动态，如 /topic 黄金")]
    Topic(String),
    #[command(description = "某天的完整简报（私聊）")]
    Brief(String),
    #[command(description = "订阅专题（私聊）")]
    Subscribe(String),
    #[command(description = "取消订阅（私聊）")]
    Unsubscribe(String),
    #[command(description = "我的订阅（私聊）")]
    Subscriptions,
    #[command(description = "立即发布：/post [日期] [force]")]
    Post(String),
    #[command(description = "预览发到私聊：/preview [日期]")]
    Preview(String),
    #[command(description = "运行状态")]
    Status,
    #[command(description = "立即重新读取来源")]
    Ingest,
}

/// Commands only admins see in their command menu.
pub const ADMIN_COMMANDS: &[&str] = &["post", "preview", "status", "ingest"];

async fn on_command(
    msg: Message,
    cmd: Command,
    ctx: Arc<BotContext>,
) -> super::context::HandlerResult {
    match cmd {
        Command::Start(_) | Command::Help => member::help(&ctx, &msg).await,
        Command::Topics => member::topics(&ctx, &msg).await,
        Command::Topic(name) => member::topic(&ctx, &msg, &name).await,
        Command::Brief(date) => member::brief(&ctx, &msg, &date).await,
        Command::Subscribe(name) => subscribe::subscribe(&ctx, &msg, &name).await,
        Command::Unsubscribe(name) => subscribe::unsubscribe(&ctx, &msg, &name).await,
        Command::Subscriptions => subscribe::list(&ctx, &msg).await,
        Command::Post(args) => admin::post(&ctx, &msg, &args).await,
        Command::Preview(args) => admin::preview(&ctx, &msg, &args).await,
        Command::Status => admin::status(&ctx, &msg).await,
        Command::Ingest => admin::ingest(&ctx, &msg).await,
    }
}

/// The whole bot: commands in messages, and "更多" buttons.
pub fn schema() -> UpdateHandler<Box<dyn std::error::Error + Send + Sync>> {
    dptree::entry()
        .branch(
            Update::filter_message()
                .filter_command::<Command>()
                .endpoint(on_command),
        )
        .branch(Update::filter_callback_query().endpoint(member::more))
}
