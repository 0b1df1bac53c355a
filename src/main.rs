//! The `ecobrief` command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use ecobrief::app::{App, AppError};
use ecobrief::compose::ComposeError;
use ecobrief::config::Config;
use ecobrief::render::text::OutgoingMessage;

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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ECOBRIEF_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_messages(messages: &[OutgoingMessage], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(messages)?),
        Format::Text => {
            let total = messages.len();
            for (i, message) in messages.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                println!(
                    "──────── message {}/{total} · {} characters · {} entities ────────",
                    i + 1,
                    message.text.chars().count(),
                    message.entities.len()
                );
                println!("{}", message.text);
            }
        }
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(cli.config.as_deref())?;
    config.apply_env();
    if let Some(db) = cli.db {
        config.database = db;
    }
    if let Command::CheckConfig = cli.command {
        return check_config(config);
    }
    let mut app = App::open(config)?;
    match cli.command {
        Command::Ingest { paths, date } => {
            let report = app.ingest_paths(&paths, date)?;
            for line in report.lines() {
                println!("{line}");
            }
            println!(
                "{} files, {} items, {} failed",
                report.files.len(),
                report.items(),
                report.failed()
            );
            Ok(if report.failed() > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Preview { date, format } => {
            let report = app
                .ingest_sources()
                .context("ingesting the configured sources")?;
            for line in report.lines().iter().filter(|l| !l.starts_with("ok ")) {
                eprintln!("{line}");
            }
            let date = date.unwrap_or_else(|| app.today());
            match app.brief_messages(date) {
                Ok((_, messages)) => {
                    print_messages(&messages, format)?;
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
        } => match app.topic_reply(&name, limit.clamp(1, 50), offset) {
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
            for (topic, count) in app.topic_counts()? {
                println!(
                    "{:<14} {:<8} {count:>6} items   aliases: {}",
                    topic.id,
                    topic.name,
                    topic.aliases.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => ecobrief::telegram::run(app),
        Command::Publish { date, force } => {
            let date = date.unwrap_or_else(|| app.today());
            ecobrief::telegram::publish_once(app, date, force)
        }
        Command::CheckConfig => unreachable!("handled before the store is opened"),
    }
}

fn check_config(config: Config) -> anyhow::Result<ExitCode> {
    let origin = config
        .origin
        .as_ref()
        .map_or("built-in defaults".to_string(), |p| p.display().to_string());
    config.validate()?;
    println!("ok     config {origin}");
    let topics = ecobrief::topics::TopicCatalog::load(&config.topics_file)?;
    println!(
        "ok     topics {} ({} topics)",
        config.topics_file.display(),
        topics.topics().len()
    );
    let renderer = ecobrief::render::Renderer::load(&config.render, config.tz())?;
    renderer.self_check()?;
    println!("ok     templates {}", config.render.templates_dir.display());
    println!(
        "ok     schedule publish {:?}, ingest {:?} ({})",
        config.schedule.publish_cron, config.schedule.ingest_cron, config.timezone
    );
    let mut problems = 0;
    for source in &config.sources {
        match source {
            ecobrief::config::SourceConfig::Dir { path, .. } if !path.is_dir() => {
                println!(
                    "error  source {}: not a folder; fix `path` in [[sources]]",
                    path.display()
                );
                problems += 1;
            }
            ecobrief::config::SourceConfig::Feed { url, .. }
            | ecobrief::config::SourceConfig::Url { url, .. }
                if !(url.starts_with("http://") || url.starts_with("https://")) =>
            {
                println!(
                    "error  source {}: url must start with http:// or https://",
                    source.id()
                );
                problems += 1;
            }
            _ => println!("ok     source {}", source.id()),
        }
    }
    Ok(if problems > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
