//! Typed settings: the config file (and its environment overrides) parsed once into the
//! values the program uses. Cron expressions, the timezone, chat references, URLs,
//! addresses and durations are parsed here; nothing downstream parses config text again.
//! `check-config` and start-up both go through [`Settings::from_config`], so whatever
//! `check-config` accepts also starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use crate::config::{
    BriefConfig, Config, ConfigError, FetchConfig, IngestConfig, OnMissingBrief, RenderConfig,
    SourceConfig, TELEGRAM_MAX_CODE_POINTS, TELEGRAM_MAX_ENTITIES, TelegramMode, redact_url,
};
use crate::message::ChatRef;

/// Where items come from, with its id (for logs, `/status`, metrics and its stored state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub id: String,
    pub kind: SourceSpec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Dir {
        path: PathBuf,
    },
    Feed {
        url: reqwest::Url,
        fetch: FetchConfig,
    },
    Url {
        url: reqwest::Url,
        fetch: FetchConfig,
    },
}

impl Source {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, SourceSpec::Dir { .. })
    }
}

/// A chat the brief is posted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub chat: ChatRef,
    /// Forum topic to post in; 0 in the delivery record when none.
    pub thread_id: Option<i64>,
    pub disable_notification: bool,
    pub link_preview: bool,
    /// Text messages, or rich messages (`sendRichMessage`).
    pub edition: crate::message::Edition,
    /// Pin the day's first part and unpin the previous day's.
    pub pin: bool,
}

impl Target {
    /// The chat as written in the config: the delivery record's key.
    pub fn chat_key(&self) -> String {
        self.chat.key()
    }

    pub fn thread(&self) -> i64 {
        self.thread_id.unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
pub struct TelegramSettings {
    /// Bot API base URL, without a trailing slash.
    pub api_url: reqwest::Url,
    pub targets: Vec<Target>,
    pub admins: Vec<i64>,
    pub admin_cache: Duration,
    pub group_interval: Duration,
    pub private_interval: Duration,
    pub global_per_second: u32,
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub poll_timeout_seconds: u32,
    pub mode: TelegramMode,
    pub webhook_url: Option<reqwest::Url>,
    /// The edition `/brief` sends in a private chat.
    pub private_edition: crate::message::Edition,
    /// `/topic` and `/topics` in a group answer only the member who asked.
    pub ephemeral_replies: bool,
}

#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    pub enabled: bool,
    pub publish: Cron,
    pub ingest: Cron,
    /// At start, a publish time missed by less than this is caught up.
    pub catch_up: Duration,
    /// How long after the scheduled time a publish waits for the day's brief.
    pub wait_for_brief: Duration,
    pub on_missing_brief: OnMissingBrief,
    /// Longest a publish waits for feeds and urls before it goes on with what it has.
    pub refresh_deadline: Duration,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    /// Connections open at once (`server.max_connections`).
    pub max_connections: usize,
    /// Longest wait for a request's headers, and so for the next request on an idle
    /// keep-alive connection (`server.header_timeout_seconds`).
    pub header_timeout: Duration,
    /// Longest a request may take from its headers to the response
    /// (`server.request_timeout_seconds`).
    pub request_timeout: Duration,
}

/// How many fetches may be in flight at once (`ingest.max_concurrent_fetches`,
/// `ingest.max_fetches_per_host`); each at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    pub global: usize,
    pub per_host: usize,
}

/// Everything the program is configured with, parsed and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file read, if any (for messages).
    pub origin: Option<PathBuf>,
    pub tz: Tz,
    pub database: PathBuf,
    pub topics_file: PathBuf,
    pub sources: Vec<Source>,
    pub ingest: IngestConfig,
    pub fetch_limits: FetchLimits,
    pub render: RenderConfig,
    pub brief: BriefConfig,
    pub telegram: TelegramSettings,
    pub schedule: ScheduleSettings,
    pub server: ServerSettings,
    /// Days that feed, url and pushed items are kept (`store.keep_days`); `None` keeps
    /// them for ever.
    pub keep_days: Option<u32>,
}

/// Parses a six-field cron expression the way the scheduler does.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    let cron = CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|_| {
            format!(
                "{expr:?} is not a cron expression; six fields: sec min hour day month weekday, e.g. \"0 0 8 * * *\""
            )
        })?;
    // February 30 parses, but never comes.
    if cron.find_next_occurrence(&Utc::now(), false).is_err() {
        return Err(format!(
            "{expr:?} never fires (no such day in any year); check the day and month fields"
        ));
    }
    Ok(cron)
}

/// An http(s) URL with a host.
fn parse_web_url(text: &str) -> Result<reqwest::Url, String> {
    let shown = redact_url(text.trim());
    let url = reqwest::Url::parse(text.trim())
        .map_err(|_| format!("{shown:?} is not a URL; write it as https://host/path"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{shown:?} is not an http:// or https:// URL with a host"
        ));
    }
    Ok(url)
}

impl Settings {
    /// Reads the config file (or the built-in defaults when `path` is `None` and the
    /// default file is absent), the environment overrides and `ECOBRIEF_API_URL`, and
    /// parses the result.
    pub fn load(path: Option<&Path>, database: Option<PathBuf>) -> Result<Settings, ConfigError> {
        let mut config = Config::load(path)?;
        config.apply_env();
        if let Some(db) = database {
            config.database = db;
        }
        Settings::from_config(config)
    }

    /// Parses and checks `config`. Errors name the file, the full key path and, when an
    /// environment variable set the key, the variable.
    pub fn from_config(config: Config) -> Result<Settings, ConfigError> {
        let path = config
            .origin
            .clone()
            .unwrap_or_else(|| PathBuf::from("(built-in defaults)"));
        let invalid = |key: &str, message: String| {
            let var = config.env_var_for(key);
            ConfigError::Invalid {
                path: path.clone(),
                key: key.to_string(),
                message: match var {
                    Some(var) => format!("{message} (set by the environment variable {var})"),
                    None => message,
                },
            }
        };
        let tz: Tz = config.timezone.parse().map_err(|_| {
            invalid(
                "timezone",
                format!(
                    "unknown timezone {:?}; use an IANA name such as \"Asia/Shanghai\" or \"UTC\"",
                    config.timezone
                ),
            )
        })?;
        if config.database.as_os_str().is_empty() {
            return Err(invalid(
                "database",
                "is empty; name the SQLite file, e.g. \"data/ecobrief.db\" (an empty name would \
                 open a throw-away database, and a restart would forget what was posted)"
                    .to_string(),
            ));
        }
        if config.database.is_dir() {
            return Err(invalid(
                "database",
                format!(
                    "{} is a folder; name the SQLite file inside it, e.g. {}",
                    config.database.display(),
                    config.database.join("ecobrief.db").display()
                ),
            ));
        }
        let budget = config.render.message_budget;
        if !(200..=TELEGRAM_MAX_CODE_POINTS - 16).contains(&budget) {
            return Err(invalid(
                "render.message_budget",
                format!(
                    "{budget} is out of range; allowed 200..={} (Telegram allows {TELEGRAM_MAX_CODE_POINTS} code points and the part number needs room)",
                    TELEGRAM_MAX_CODE_POINTS - 16
                ),
            ));
        }
        let entities = config.render.max_entities;
        if !(10..=TELEGRAM_MAX_ENTITIES).contains(&entities) {
            return Err(invalid(
                "render.max_entities",
                format!("{entities} is out of range; allowed 10..={TELEGRAM_MAX_ENTITIES}"),
            ));
        }
        if config.ingest.max_file_bytes == 0 {
            return Err(invalid(
                "ingest.max_file_bytes",
                "must be greater than 0".to_string(),
            ));
        }
        let at_least_one = |key: &str, value: u64| {
            if value == 0 {
                Err(invalid(
                    key,
                    "must be at least 1 (no source could ever be fetched)".to_string(),
                ))
            } else {
                Ok(usize::try_from(value).unwrap_or(usize::MAX))
            }
        };
        let fetch_limits = FetchLimits {
            global: at_least_one(
                "ingest.max_concurrent_fetches",
                config.ingest.max_concurrent_fetches,
            )?,
            per_host: at_least_one(
                "ingest.max_fetches_per_host",
                config.ingest.max_fetches_per_host,
            )?,
        };
        let sources = Settings::sources(&config, &invalid)?;
        let telegram = Settings::telegram(&config, &invalid)?;
        let schedule = &config.schedule;
        let publish =
            parse_cron(&schedule.publish_cron).map_err(|m| invalid("schedule.publish_cron", m))?;
        let ingest =
            parse_cron(&schedule.ingest_cron).map_err(|m| invalid("schedule.ingest_cron", m))?;
        let schedule = ScheduleSettings {
            enabled: schedule.enabled,
            publish,
            ingest,
            catch_up: Duration::from_secs(schedule.catch_up_hours.saturating_mul(3600)),
            wait_for_brief: Duration::from_secs(schedule.wait_for_brief_minutes.saturating_mul(60)),
            on_missing_brief: schedule.on_missing_brief,
            refresh_deadline: Duration::from_secs(schedule.refresh_deadline_seconds),
        };
        let listen = config.server.listen.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "server.listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:8080",
                    config.server.listen
                ),
            )
        })?;
        if config.server.max_body_bytes == 0 {
            return Err(invalid(
                "server.max_body_bytes",
                "must be greater than 0 (every push would be refused)".to_string(),
            ));
        }
        if config.server.max_connections == 0 {
            return Err(invalid(
                "server.max_connections",
                "must be greater than 0 (no connection would ever be served)".to_string(),
            ));
        }
        // A day at most: a timer that far out is no timeout, and a larger one overflows.
        let server_timeout = |key: &str, seconds: u64| {
            if (1..=86_400).contains(&seconds) {
                Ok(Duration::from_secs(seconds))
            } else {
                Err(invalid(
                    key,
                    format!("must be 1 to 86400 seconds (it is {seconds})"),
                ))
            }
        };
        let server = ServerSettings {
            enabled: config.server.enabled,
            listen,
            max_body_bytes: usize::try_from(config.server.max_body_bytes).unwrap_or(usize::MAX),
            max_connections: usize::try_from(config.server.max_connections).unwrap_or(usize::MAX),
            header_timeout: server_timeout(
                "server.header_timeout_seconds",
                config.server.header_timeout_seconds,
            )?,
            request_timeout: server_timeout(
                "server.request_timeout_seconds",
                config.server.request_timeout_seconds,
            )?,
        };
        Ok(Settings {
            origin: config.origin.clone(),
            tz,
            database: config.database.clone(),
            topics_file: config.topics_file.clone(),
            sources,
            ingest: config.ingest.clone(),
            fetch_limits,
            render: config.render.clone(),
            brief: config.brief.clone(),
            telegram,
            schedule,
            server,
            keep_days: Some(config.store.keep_days).filter(|d| *d > 0),
        })
    }

    fn sources(
        config: &Config,
        invalid: &impl Fn(&str, String) -> ConfigError,
    ) -> Result<Vec<Source>, ConfigError> {
        let mut ids = std::collections::HashSet::new();
        let mut sources = Vec::with_capacity(config.sources.len());
        for (i, source) in config.sources.iter().enumerate() {
            // Sources keep their fetch state and health under their id: two with one id
            // would share validators (a 304 meant for one would hide the other).
            let id = source.id();
            if !ids.insert(id.clone()) {
                return Err(invalid(
                    &format!("sources[{i}]"),
                    format!(
                        "{id:?} is used by an earlier source too; give each source its own `name`"
                    ),
                ));
            }
            let kind = match source {
                SourceConfig::Dir { path, .. } => {
                    if path.as_os_str().is_empty() {
                        return Err(invalid(
                            &format!("sources[{i}].path"),
                            "is empty; name the folder to read".to_string(),
                        ));
                    }
                    SourceSpec::Dir { path: path.clone() }
                }
                SourceConfig::Feed { url, fetch, .. } | SourceConfig::Url { url, fetch, .. } => {
                    let parsed =
                        parse_web_url(url).map_err(|m| invalid(&format!("sources[{i}].url"), m))?;
                    let key = |field: &str| format!("sources[{i}].fetch.{field}");
                    if fetch.timeout_seconds == 0 {
                        return Err(invalid(
                            &key("timeout_seconds"),
                            "must be at least 1".to_string(),
                        ));
                    }
                    if fetch.max_bytes == 0 {
                        return Err(invalid(
                            &key("max_bytes"),
                            "must be greater than 0".to_string(),
                        ));
                    }
                    match source {
                        SourceConfig::Feed { .. } => SourceSpec::Feed {
                            url: parsed,
                            fetch: fetch.clone(),
                        },
                        _ => SourceSpec::Url {
                            url: parsed,
                            fetch: fetch.clone(),
                        },
                    }
                }
            };
            sources.push(Source { id, kind });
        }
        Ok(sources)
    }

    fn telegram(
        config: &Config,
        invalid: &impl Fn(&str, String) -> ConfigError,
    ) -> Result<TelegramSettings, ConfigError> {
        let telegram = &config.telegram;
        let api_url = parse_web_url(telegram.api_url.trim_end_matches('/'))
            .map_err(|m| invalid("telegram.api_url", m))?;
        let mut targets = Vec::with_capacity(telegram.targets.len());
        for (i, target) in telegram.targets.iter().enumerate() {
            let chat = ChatRef::parse(&target.chat).ok_or_else(|| {
                invalid(
                    &format!("telegram.targets[{i}].chat"),
                    format!(
                        "{:?} is neither a numeric chat id nor an @username",
                        target.chat.trim()
                    ),
                )
            })?;
            targets.push(Target {
                chat,
                thread_id: target.thread_id,
                disable_notification: target.disable_notification,
                link_preview: target.link_preview,
                edition: target.edition,
                pin: target.pin,
            });
        }
        if telegram.global_per_second == 0 {
            return Err(invalid(
                "telegram.global_per_second",
                "must be at least 1".to_string(),
            ));
        }
        if telegram.request_timeout_seconds == 0 {
            return Err(invalid(
                "telegram.request_timeout_seconds",
                "must be at least 1".to_string(),
            ));
        }
        let webhook_url = match telegram.webhook_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => {
                let parsed = parse_web_url(url).map_err(|m| invalid("telegram.webhook_url", m))?;
                if parsed.scheme() != "https" {
                    return Err(invalid(
                        "telegram.webhook_url",
                        "Telegram only posts updates to an https:// URL".to_string(),
                    ));
                }
                crate::server::check_webhook_path(parsed.path())
                    .map_err(|m| invalid("telegram.webhook_url", m))?;
                Some(parsed)
            }
        };
        if telegram.mode == TelegramMode::Webhook {
            if webhook_url.is_none() {
                return Err(invalid(
                    "telegram.webhook_url",
                    "webhook mode needs the public https:// URL Telegram will post updates to"
                        .to_string(),
                ));
            }
            if !config.server.enabled {
                return Err(invalid(
                    "telegram.mode",
                    "\"webhook\" needs the HTTP server: set server.enabled = true".to_string(),
                ));
            }
        }
        Ok(TelegramSettings {
            api_url,
            targets,
            admins: telegram.admins.clone(),
            admin_cache: Duration::from_secs(telegram.admin_cache_minutes.saturating_mul(60)),
            group_interval: Duration::from_millis(telegram.group_interval_ms),
            private_interval: Duration::from_millis(telegram.private_interval_ms),
            global_per_second: telegram.global_per_second,
            request_timeout: Duration::from_secs(telegram.request_timeout_seconds),
            max_retries: telegram.max_retries,
            poll_timeout_seconds: telegram.poll_timeout_seconds,
            mode: telegram.mode,
            webhook_url,
            private_edition: telegram.private_edition,
            ephemeral_replies: telegram.ephemeral_replies,
        })
    }

    /// Today in the configured timezone.
    pub fn today(&self) -> chrono::NaiveDate {
        Utc::now().with_timezone(&self.tz).date_naive()
    }

    /// Section an article goes under, by its first mapped category.
    pub fn section_for_categories(&self, categories: &[String]) -> String {
        categories
            .iter()
            .find_map(|c| self.brief.category_sections.get(c))
            .cloned()
            .unwrap_or_else(|| self.brief.quick_section.clone())
    }

    /// The config file's name for messages.
    pub fn origin_name(&self) -> String {
        self.origin
            .as_ref()
            .map_or("built-in defaults".to_string(), |p| p.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(toml: &str) -> String {
        let config = Config::from_toml(toml, Path::new("c.toml")).unwrap();
        Settings::from_config(config).unwrap_err().to_string()
    }

    #[test]
    fn values_start_refuses_are_refused_with_their_key() {
        let err = refused("database = \"\"\n");
        assert!(err.contains("database") && err.contains("empty"), "{err}");
        let err = refused("[telegram]\napi_url = \"api.telegram.org\"\n");
        assert!(err.contains("telegram.api_url"), "{err}");
        let err = refused("[schedule]\npublish_cron = \"0 0 8 30 2 *\"\n");
        assert!(
            err.contains("schedule.publish_cron") && err.contains("never"),
            "{err}"
        );
        let err = refused("[server]\nmax_body_bytes = 0\n");
        assert!(err.contains("server.max_body_bytes"), "{err}");
        for key in [
            "max_connections",
            "header_timeout_seconds",
            "request_timeout_seconds",
        ] {
            let err = refused(&format!("[server]\n{key} = 0\n"));
            assert!(err.contains(&format!("server.{key}")), "{err}");
        }
        for key in ["max_concurrent_fetches", "max_fetches_per_host"] {
            let err = refused(&format!("[ingest]\n{key} = 0\n"));
            assert!(
                err.contains(&format!("ingest.{key}")) && err.contains("at least 1"),
                "{err}"
            );
        }
        let err = refused("[server]\nheader_timeout_seconds = 100000\n");
        assert!(err.contains("server.header_timeout_seconds"), "{err}");
        let err = refused(
            "[[sources]]\nkind = \"feed\"\nurl = \"https://a.example/f\"\nfetch = { timeout_seconds = 0 }\n",
        );
        assert!(err.contains("sources[0].fetch.timeout_seconds"), "{err}");
        let err = refused("[[sources]]\nkind = \"url\"\nurl = \"https://user:pw@/x\"\n");
        assert!(
            err.contains("sources[0].url") && !err.contains("pw"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = refused(&format!(
            "database = {:?}\n",
            dir.path().display().to_string()
        ));
        assert!(err.contains("is a folder"), "{err}");
    }

    #[test]
    fn environment_variables_are_named() {
        let env = vec![(
            "ECOBRIEF__SCHEDULE__PUBLISH_CRON".to_string(),
            "8am".to_string(),
        )];
        let config = Config::from_toml_with_env("", Path::new("c.toml"), &env).unwrap();
        let err = Settings::from_config(config).unwrap_err().to_string();
        assert!(
            err.contains("schedule.publish_cron")
                && err.contains("ECOBRIEF__SCHEDULE__PUBLISH_CRON"),
            "{err}"
        );
    }

    #[test]
    fn defaults_parse() {
        let settings = Settings::from_config(Config::default()).unwrap();
        assert_eq!(settings.tz, Tz::Asia__Shanghai);
        assert_eq!(
            settings.fetch_limits,
            FetchLimits {
                global: 8,
                per_host: 2
            }
        );
        assert_eq!(settings.telegram.targets[0].chat_key(), "@ecodailyreport");
        assert_eq!(
            settings.telegram.api_url.as_str(),
            "https://api.telegram.org/"
        );
    }
}
