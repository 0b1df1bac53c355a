//! The `ecobrief` command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use ecobrief::app::{AppError, Core};
use ecobrief::application::{Application, EXIT_TOKEN, Purpose, StartError, StartOptions};
use ecobrief::compose::ComposeError;
use ecobrief::message::OutgoingMessage;
use ecobrief::publish::PublishError;
use ecobrief::redact::{RedactingWriter, Redactor};
use ecobrief::runner::PublishOutcome;
use ecobrief::settings::{Settings, SourceSpec};
use tokio::sync::watch;

/// `println!` for the command's output: a closed stdout (`ecobrief topics | head -1`)
/// ends the program quietly, as it does for other command-line tools, instead of a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write the output: {e}");
            std::process::exit(1);
        }
    }};
}

#[derive(Parser)]
#[command(
    name = "ecobrief",
    version,
    about = "Publishes a daily economic brief to a Telegram group"
)]
struct Cli {
    /// Config file [default: config/ecobrief.toml, built-in defaults if absent]
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// SQLite database file (overrides `database` in the config)
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Which edition `preview` prints.
#[derive(Clone, Copy, ValueEnum)]
enum EditionArg {
    Text,
    Rich,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest documents (files or folders); prints one line per file
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Day of documents that carry no date (commentary)
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// Ingest the configured sources, then print the brief as the group would receive it
    Preview {
        /// YYYY-MM-DD [default: today in the configured timezone]
        #[arg(long)]
        date: Option<NaiveDate>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// `rich`: the rich edition (Bot API 10.1 sendRichMessage)
        #[arg(long, value_enum, default_value = "text")]
        edition: EditionArg,
    },
    /// Print the reply `/topic NAME` would give
    Topic {
        name: String,
        #[arg(long, default_value_t = 5)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// List topics with their item counts
    Topics,
    /// Run the bot: long polling, commands, the daily schedule (needs ECOBRIEF_BOT_TOKEN)
    Run,
    /// Post the brief of a day to the configured targets now (needs ECOBRIEF_BOT_TOKEN)
    Publish {
        /// YYYY-MM-DD [default: today in the configured timezone]
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Post again even if the day is already posted
        #[arg(long)]
        force: bool,
    },
    /// Validate the config, the topics and the templates
    CheckConfig,
    /// The database: what it holds, pruning by store.keep_days, compaction
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Subcommand)]
enum DbCommand {
    /// Items by origin and age, database and WAL size
    Stats,
    /// Remove feed, url and pushed items older than store.keep_days (the bot also does this daily)
    Prune {
        /// Count what would go, remove nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Rebuild the file to give deleted space back (refused while the bot runs)
    Vacuum,
}

/// The process's secrets, to be kept out of every log line and error.
fn secrets() -> Redactor {
    let server = ecobrief::server::Secrets::from_env();
    Redactor::new(
        [
            ecobrief::telegram::token_from_env(),
            server.api_token,
            server.webhook_secret,
        ]
        .into_iter()
        .flatten(),
    )
}

fn main() -> ExitCode {
    use std::io::IsTerminal;
    let redactor = secrets();
    // Colour codes only for a person at a terminal: a journal or a file gets plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ECOBRIEF_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        // The safety net: whatever a library logs, no secret reaches the log.
        .with_writer(RedactingWriter::new(redactor.clone(), std::io::stderr))
        .with_ansi(colour)
        .with_target(false)
        .without_time()
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", redactor.scrub(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// The rich edition: as JSON, one `{"rich_message": {"html": …}}` per message (the
/// parameter `sendRichMessage` gets, with `media` when it shows the cover); as text,
/// each message read as plain lines.
fn print_rich(parts: &[ecobrief::render::RichPart], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let payloads: Vec<serde_json::Value> = parts
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "rich_message": ecobrief::publish::botapi::input_rich_message(&p.message)
                    })
                })
                .collect();
            say!("{}", serde_json::to_string_pretty(&payloads)?);
        }
        Format::Text => {
            let total = parts.len();
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    say!();
                }
                let stats =
                    ecobrief::render::rich::check_rich_html(&part.message.html).unwrap_or_default();
                say!(
                    "──────── rich message {}/{total} · {} characters · {} blocks ────────",
                    i + 1,
                    stats.chars,
                    stats.blocks
                );
                say!(
                    "{}",
                    ecobrief::render::rich::rich_to_readable(&part.message.html)
                );
            }
        }
    }
    Ok(())
}

fn print_messages(messages: &[OutgoingMessage], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => say!("{}", serde_json::to_string_pretty(messages)?),
        Format::Text => {
            let total = messages.len();
            for (i, message) in messages.iter().enumerate() {
                if i > 0 {
                    say!();
                }
                say!(
                    "──────── message {}/{total} · {} characters · {} entities ────────",
                    i + 1,
                    message.text.chars().count(),
                    message.entities.len()
                );
                say!("{}", message.text);
            }
        }
    }
    Ok(())
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref(), cli.db)?;
    if let Command::CheckConfig = cli.command {
        return check_config(settings);
    }
    match cli.command {
        Command::Run => return serve(settings),
        Command::Publish { date, force } => {
            let date = date.unwrap_or_else(|| settings.today());
            return publish(settings, date, force);
        }
        _ => {}
    }
    let core = Core::open(settings)?;
    let outcome = run_command(&core, cli.command);
    core.db.close();
    outcome
}

/// The commands that work on the database alone.
fn run_command(core: &Core, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Ingest { paths, date } => {
            // Each file's line as its batch is written; nothing kept but the counts.
            let tally = core.ingest_paths_each(&paths, date, |file| {
                for line in file.lines() {
                    say!("{line}");
                }
            })?;
            say!(
                "{} files, {} items, {} failed",
                tally.files,
                tally.items,
                tally.failed
            );
            Ok(if tally.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Preview {
            date,
            format,
            edition,
        } => {
            let report = core
                .ingest_folders()
                .context("ingesting the configured sources")?;
            for line in report.lines().iter().filter(|l| !l.starts_with("ok ")) {
                eprintln!("{line}");
            }
            let date = date.unwrap_or_else(|| core.today());
            let printed = match edition {
                EditionArg::Text => core
                    .brief_messages(date)
                    .map(|(_, messages)| print_messages(&messages, format)),
                EditionArg::Rich => core
                    .brief_rich(date)
                    .map(|(_, parts)| print_rich(&parts, format)),
            };
            match printed {
                Ok(printed) => {
                    printed?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(AppError::Compose(ComposeError::NoItems(day))) => {
                    eprintln!(
                        "no items for {day}: ingest documents dated {day} (see `ecobrief ingest`), or pick another --date"
                    );
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Topic {
            name,
            limit,
            offset,
            format,
        } => match core.topic_reply(&name, limit.clamp(1, 50), offset) {
            Ok(page) => {
                print_messages(&[page.message], format)?;
                Ok(ExitCode::SUCCESS)
            }
            Err(e @ AppError::UnknownTopic { .. }) => {
                eprintln!("{e}");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        },
        Command::Topics => {
            for (topic, count) in core.topic_counts()? {
                say!(
                    "{:<14} {:<8} {count:>6} items   aliases: {}",
                    topic.id,
                    topic.name,
                    topic.aliases.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Db(command) => db_command(core, command),
        Command::Run | Command::Publish { .. } | Command::CheckConfig => {
            unreachable!("handled above")
        }
    }
}

fn db_command(core: &Core, command: DbCommand) -> anyhow::Result<ExitCode> {
    let database = core.settings.database.clone();
    match command {
        DbCommand::Stats => {
            let stats = core.db.with(|store| store.stats(core.today()))?;
            say!("items by origin      all   ≤30 days  ≤1 year    older");
            for o in &stats.origins {
                say!(
                    "  {:<10} {:>10} {:>10} {:>8} {:>8}",
                    o.origin.as_str(),
                    o.items,
                    o.last_30_days,
                    o.last_year,
                    o.older
                );
            }
            say!(
                "documents {}, outbox parts {}",
                stats.documents,
                stats.outbox_parts
            );
            let size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
            let mut wal = database.clone().into_os_string();
            wal.push("-wal");
            say!(
                "database {} bytes, WAL {} bytes ({})",
                size(&database),
                size(std::path::Path::new(&wal)),
                database.display()
            );
            match core.settings.keep_days {
                Some(days) => say!(
                    "store.keep_days = {days}: feed, url and pushed items older than that are pruned daily"
                ),
                None => say!("store.keep_days = 0: everything is kept"),
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Prune { dry_run } => {
            let Some(report) = core.prune(core.today(), dry_run)? else {
                say!("store.keep_days = 0: everything is kept, nothing to prune");
                return Ok(ExitCode::SUCCESS);
            };
            let verb = if dry_run { "would remove" } else { "removed" };
            say!(
                "{verb} {} documents ({} items), {} digests, {} outbox bodies older than {}",
                report.documents,
                report.items,
                report.digests,
                report.outbox_bodies,
                core.keep_from().map(|d| d.to_string()).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Vacuum => {
            // VACUUM rewrites the whole file: not beside a running bot.
            let _lock = ecobrief::application::lock_instance(&database)
                .map_err(|e| anyhow::anyhow!("{e}; stop the bot before `ecobrief db vacuum`"))?;
            let before = std::fs::metadata(&database).map_or(0, |m| m.len());
            core.db.with(|store| store.vacuum())?;
            // The rewrite went through the WAL, as big as the file: put back and cut now.
            core.db.checkpoint_now()?;
            let after = std::fs::metadata(&database).map_or(0, |m| m.len());
            say!("vacuumed {}: {before} → {after} bytes", database.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One line for a start-up failure, and its exit status.
fn start_failed(e: &StartError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        StartError::Token(_) => ExitCode::from(EXIT_TOKEN),
        _ => ExitCode::FAILURE,
    }
}

/// `ecobrief run`: serves until SIGINT or SIGTERM.
fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    let mut db = None;
    let slot = &mut db;
    let code = runtime()?.block_on(async move {
        let (stop_tx, stop) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stop requested; finishing the message in flight");
            let _ = stop_tx.send(true);
        });
        let mut options = StartOptions::new(Purpose::Serve, ecobrief::telegram::token_from_env());
        options.secrets = ecobrief::server::Secrets::from_env();
        let application = match Application::build(settings, options, stop).await {
            Ok(application) => application,
            Err(e) => return Ok(start_failed(&e)),
        };
        *slot = Some(application.core().db.clone());
        match application.run_until_stopped().await {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => Ok(start_failed(&e)),
        }
    });
    // Outside the runtime, which may block.
    if let Some(db) = db {
        db.close();
    }
    code
}

/// `ecobrief publish`: reads the sources, then posts one day now through the same path
/// as the schedule.
fn publish(settings: Settings, date: NaiveDate, force: bool) -> anyhow::Result<ExitCode> {
    let mut db = None;
    let slot = &mut db;
    let code = runtime()?.block_on(async move {
        let (_stop_tx, stop) = watch::channel(false);
        let options = StartOptions::new(Purpose::PublishOnce, ecobrief::telegram::token_from_env());
        let application = match Application::build(settings, options, stop).await {
            Ok(application) => application,
            Err(e) => return Ok(start_failed(&e)),
        };
        *slot = Some(application.core().db.clone());
        match application.publish_once(date, force).await {
            Ok(PublishOutcome::Posted { report, with_brief }) => {
                if !with_brief {
                    eprintln!("note: {date} has no brief document; posted the other items of the day");
                }
                say!("{}", report.summary());
                Ok(if report.complete() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            Ok(_) | Err(PublishError::AlreadyPosted(_)) => {
                eprintln!("the brief of {date} is already posted; use --force to post it again");
                Ok(ExitCode::FAILURE)
            }
            Err(PublishError::App(AppError::Compose(ComposeError::NoItems(day)))) => {
                eprintln!(
                    "no items for {day}: nothing posted; ingest documents dated {day} or check the sources"
                );
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        }
    });
    if let Some(db) = db {
        db.close();
    }
    code
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Checks what start-up checks: the settings (already parsed), the topics, the
/// templates, and that each folder source exists.
fn check_config(settings: Settings) -> anyhow::Result<ExitCode> {
    say!("ok     config {}", settings.origin_name());
    let topics = ecobrief::topics::TopicCatalog::load(&settings.topics_file)?;
    say!(
        "ok     topics {} ({} topics)",
        settings.topics_file.display(),
        topics.topics().len()
    );
    let renderer = ecobrief::render::Renderer::load(&settings.render, settings.tz)?;
    renderer.self_check()?;
    say!(
        "ok     templates {}",
        settings.render.templates_dir.display()
    );
    say!(
        "ok     schedule publish {:?}, ingest {:?} ({})",
        settings.schedule.publish.as_str(),
        settings.schedule.ingest.as_str(),
        settings.tz.name()
    );
    let mut problems = 0;
    for (i, source) in settings.sources.iter().enumerate() {
        match &source.kind {
            SourceSpec::Dir { path } if !path.is_dir() => {
                say!(
                    "error  source {}: {} is not a folder; fix sources[{i}].path",
                    source.id,
                    path.display()
                );
                problems += 1;
            }
            _ => say!("ok     source {}", source.id),
        }
    }
    Ok(if problems > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
