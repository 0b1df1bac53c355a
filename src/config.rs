//! Layered configuration: built-in defaults, then the TOML file, then command-line flags.
//! Relative paths are taken from the working directory, so a checkout run from its root
//! (or a service with `WorkingDirectory=`) finds `samples/`, `templates/` and `data/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the default config lives, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "config/ecobrief.toml";

/// `ECOBRIEF__SERVER__LISTEN=0.0.0.0:8080` overrides `[server] listen`. Secrets have no
/// config keys at all: they are read from their own variables (`ECOBRIEF_BOT_TOKEN`…).
pub const ENV_PREFIX: &str = "ECOBRIEF__";

/// An environment value as TOML when it reads as one (`30`, `true`, `["a"]`), else text.
fn env_value(text: &str) -> toml::Value {
    let probe = format!("v = {text}");
    match toml::from_str::<toml::Table>(&probe) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(text.to_string())),
        Err(_) => toml::Value::String(text.to_string()),
    }
}

/// Sets `keys` (a path of table names) in `table`, creating tables on the way.
fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = keys.split_last() else {
        return Err("no key".to_string());
    };
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("{key} is not a section"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// IANA timezone that dates without a zone are in, and in which "today" is counted.
    pub timezone: String,
    /// SQLite file; created with its folder on first use.
    pub database: PathBuf,
    pub topics_file: PathBuf,
    pub sources: Vec<SourceConfig>,
    pub ingest: IngestConfig,
    pub render: RenderConfig,
    pub brief: BriefConfig,
    pub telegram: TelegramConfig,
    pub schedule: ScheduleConfig,
    pub server: ServerConfig,
    pub store: StoreConfig,
    /// Where this config was read from, for error messages; not part of the file.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
    /// (variable, key path) of each `ECOBRIEF__…` override applied, for error messages.
    #[serde(skip)]
    pub env_overrides: Vec<(String, String)>,
}

/// Where items come from. Polled on the ingest schedule and by `/ingest`.
///
/// Read through [`RawSource`], a plain table, rather than as a tagged enum: serde buffers
/// a tagged enum's fields, and an error inside one (`fetch.timeout_seconds = -5`) would
/// then be reported at `sources[2]` instead of its own key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(
    tag = "kind",
    rename_all = "lowercase",
    deny_unknown_fields,
    try_from = "RawSource"
)]
pub enum SourceConfig {
    /// A folder of documents in the three shapes; unchanged files are skipped.
    Dir {
        path: PathBuf,
        #[serde(default)]
        name: Option<String>,
    },
    /// An RSS 2.0, Atom or JSON Feed over HTTP; each entry becomes an article item.
    Feed {
        url: String,
        #[serde(default)]
        name: Option<String>,
        /// `fetch = { timeout_seconds = 10, max_bytes = 1048576 }`
        #[serde(default)]
        fetch: FetchConfig,
    },
    /// One remote document in any of the three shapes.
    Url {
        url: String,
        #[serde(default)]
        name: Option<String>,
        /// `fetch = { timeout_seconds = 10, max_bytes = 1048576 }`
        #[serde(default)]
        fetch: FetchConfig,
    },
}

/// A `[[sources]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    kind: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    fetch: Option<FetchConfig>,
}

impl TryFrom<RawSource> for SourceConfig {
    type Error = String;

    fn try_from(raw: RawSource) -> Result<SourceConfig, String> {
        let RawSource {
            kind,
            path,
            url,
            name,
            fetch,
        } = raw;
        match kind.as_str() {
            "dir" => {
                if url.is_some() || fetch.is_some() {
                    return Err(
                        "a dir source takes `path` and `name`, not `url` or `fetch`".to_string()
                    );
                }
                Ok(SourceConfig::Dir {
                    path: path.ok_or("a dir source needs `path`, the folder to read")?,
                    name,
                })
            }
            "feed" | "url" => {
                if path.is_some() {
                    return Err(format!("a {kind} source takes `url`, not `path`"));
                }
                let url = url.ok_or_else(|| format!("a {kind} source needs `url`"))?;
                let fetch = fetch.unwrap_or_default();
                Ok(if kind == "feed" {
                    SourceConfig::Feed { url, name, fetch }
                } else {
                    SourceConfig::Url { url, name, fetch }
                })
            }
            other => Err(format!(
                "unknown kind {other:?}; use \"dir\", \"feed\" or \"url\""
            )),
        }
    }
}

/// How a remote source is fetched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FetchConfig {
    /// Least time between two polls of this source.
    pub interval_minutes: u64,
    pub timeout_seconds: u64,
    /// Bodies larger than this are refused while streaming.
    pub max_bytes: u64,
    /// Retries (with jittered backoff) after a failed fetch.
    pub retries: u32,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            interval_minutes: 10,
            timeout_seconds: 20,
            max_bytes: 5 * 1024 * 1024,
            retries: 2,
        }
    }
}

/// A URL fit to show: without `user:password@` and without the query, either of which may
/// carry a credential. Used wherever a source's URL reaches logs, admins or `/metrics`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = rest[..end].rsplit('@').next().unwrap_or("");
    let path = &rest[end..];
    let path = match path.find(['?', '#']) {
        Some(i) => format!("{}?…", &path[..i]),
        None => path.to_string(),
    };
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

impl SourceConfig {
    /// A stable name for logs, `/status` and metrics: `name`, else the path or the URL
    /// (redacted).
    pub fn id(&self) -> String {
        match self {
            SourceConfig::Dir { path, name } => {
                name.clone().unwrap_or_else(|| path.display().to_string())
            }
            SourceConfig::Feed { url, name, .. } | SourceConfig::Url { url, name, .. } => {
                name.clone().unwrap_or_else(|| redact_url(url))
            }
        }
    }
}

/// How the bot receives updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    #[default]
    Polling,
    Webhook,
}

/// The HTTP server: the items API, health, metrics, and the webhook in webhook mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub enabled: bool,
    /// Address to listen on; loopback by default (put a reverse proxy in front).
    pub listen: String,
    /// Largest body `POST /api/items` accepts.
    pub max_body_bytes: u64,
    /// Connections open at once; past it, new ones wait in the listen backlog.
    pub max_connections: u64,
    /// Longest wait for a request's headers (also how long an idle keep-alive
    /// connection stays open).
    pub header_timeout_seconds: u64,
    /// Longest a request may take from its headers to the response (body included).
    pub request_timeout_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            enabled: true,
            listen: "127.0.0.1:8080".to_string(),
            max_body_bytes: 2 * 1024 * 1024,
            max_connections: 256,
            header_timeout_seconds: 10,
            request_timeout_seconds: 30,
        }
    }
}

/// How long the database keeps what came from feeds, urls and pushes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Days that feed, url and pushed items are kept; 0 keeps them for ever. Folders'
    /// documents (structured briefs among them) and the record of what was posted stay.
    pub keep_days: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { keep_days: 400 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Files larger than this are refused before they are read.
    pub max_file_bytes: u64,
    /// File name endings that a folder scan picks up.
    pub extensions: Vec<String>,
    /// Feed and url fetches in flight at once, over all sources.
    pub max_concurrent_fetches: u64,
    /// Fetches in flight at once to one host (many sources often share one bridge).
    pub max_fetches_per_host: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InsightsMode {
    /// In an expandable blockquote: one tap to read, short on a phone.
    Collapsed,
    /// In an ordinary blockquote.
    Expanded,
    /// Left out.
    Omitted,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenderConfig {
    pub templates_dir: PathBuf,
    /// Code points per message, before the part number; Telegram's hard limit is 4096.
    pub message_budget: usize,
    /// Entities per message; Telegram drops all formatting past 100.
    pub max_entities: usize,
    pub insights: InsightsMode,
    /// Item times as Bot API 9.5 `date_time` entities, shown in each reader's own zone (the
    /// configured zone's text stays as the entity's text for older clients). Off by default:
    /// one more entity per item, so under the 100-entity cap a brief takes more parts.
    pub local_times: bool,
}

/// What opens the post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CoverMode {
    /// The brief's `coverImage` (an http(s) URL), by sendPhoto, with the title and date as
    /// its caption, before the text parts.
    #[default]
    Photo,
    /// No cover: the text parts only.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BriefConfig {
    /// The group the footer points to.
    pub group: String,
    /// Title used when the day has no structured brief document.
    pub default_title: String,
    /// Section for one-line items and for articles whose category is not mapped.
    pub quick_section: String,
    /// Section for plain commentary.
    pub commentary_section: String,
    /// Article category (front matter `categories`) → section heading.
    pub category_sections: BTreeMap<String, String>,
    /// How many targets the header's impact overview names.
    pub overview_targets: usize,
    /// `photo` (default): the cover image first, when the brief has one; `none`: never.
    pub cover: CoverMode,
}

/// A chat the brief is posted to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Numeric chat id (`-1001234567890`) or `@username`.
    pub chat: String,
    /// Forum topic to post in.
    #[serde(default)]
    pub thread_id: Option<i64>,
    #[serde(default)]
    pub disable_notification: bool,
    #[serde(default)]
    pub link_preview: bool,
    /// `"text"` (default) or `"rich"` (Bot API 10.1 rich messages).
    #[serde(default)]
    pub edition: crate::message::Edition,
    /// Pin the day's first part (silently) and unpin the previous day's.
    #[serde(default)]
    pub pin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramConfig {
    /// Bot API base URL; `ECOBRIEF_API_URL` overrides it (a self-hosted Bot API server, tests).
    pub api_url: String,
    pub targets: Vec<TargetConfig>,
    /// User ids that are always admins (besides the target chats' administrators).
    pub admins: Vec<i64>,
    /// How long a target chat's administrator list is trusted.
    pub admin_cache_minutes: u64,
    /// Least time between two messages to one group or channel.
    pub group_interval_ms: u64,
    /// Least time between two messages to one private chat.
    pub private_interval_ms: u64,
    /// Messages per second over all chats.
    pub global_per_second: u32,
    /// How long one Bot API request may take before it counts as timed out.
    pub request_timeout_seconds: u64,
    /// Retries after a 5xx or an unreachable server before a part counts as failed.
    pub max_retries: u32,
    /// Long-polling timeout for getUpdates.
    pub poll_timeout_seconds: u32,
    /// The edition `/brief` sends in a private chat: `"text"` (default) or `"rich"`.
    pub private_edition: crate::message::Edition,
    /// Answer `/topic` and `/topics` in a group with an ephemeral message (Bot API 10.2+),
    /// seen only by the member who asked. Off by default.
    pub ephemeral_replies: bool,
    /// `polling` (default) or `webhook`.
    pub mode: TelegramMode,
    /// Public HTTPS URL Telegram posts updates to in webhook mode (served by our server
    /// at its path); the secret token comes from `ECOBRIEF_WEBHOOK_SECRET`.
    pub webhook_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Six-field cron (sec min hour day month weekday), in `timezone`.
    pub publish_cron: String,
    pub ingest_cron: String,
    /// At start, a publish time missed by less than this is caught up.
    pub catch_up_hours: u64,
    pub enabled: bool,
    /// How long after the publish time a missing brief is waited for.
    pub wait_for_brief_minutes: u64,
    /// What happens when the brief has not come by then.
    pub on_missing_brief: OnMissingBrief,
    /// Longest a publish waits for feeds and urls to answer before it goes on.
    pub refresh_deadline_seconds: u64,
}

/// What a scheduled publish does when the day's brief has not arrived by the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnMissingBrief {
    /// Post the items there are (if any), and tell admins.
    #[default]
    Post,
    /// Post nothing that day, and tell admins.
    Skip,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            api_url: "https://api.telegram.org".to_string(),
            targets: vec![TargetConfig {
                chat: "@ecodailyreport".to_string(),
                thread_id: None,
                disable_notification: false,
                link_preview: false,
                edition: crate::message::Edition::Text,
                pin: false,
            }],
            admins: Vec::new(),
            admin_cache_minutes: 10,
            group_interval_ms: 3000,
            private_interval_ms: 1000,
            global_per_second: 30,
            request_timeout_seconds: 30,
            max_retries: 5,
            poll_timeout_seconds: 30,
            private_edition: crate::message::Edition::Text,
            ephemeral_replies: false,
            mode: TelegramMode::Polling,
            webhook_url: None,
        }
    }
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            publish_cron: "0 0 8 * * *".to_string(),
            ingest_cron: "0 */10 * * * *".to_string(),
            catch_up_hours: 6,
            enabled: true,
            wait_for_brief_minutes: 120,
            on_missing_brief: OnMissingBrief::Post,
            refresh_deadline_seconds: 60,
        }
    }
}

pub const TELEGRAM_MAX_CODE_POINTS: usize = 4096;
pub const TELEGRAM_MAX_ENTITIES: usize = 100;

impl Default for Config {
    fn default() -> Self {
        Config {
            timezone: "Asia/Shanghai".to_string(),
            database: PathBuf::from("data/ecobrief.db"),
            topics_file: PathBuf::from("config/topics.toml"),
            sources: vec![SourceConfig::Dir {
                path: PathBuf::from("samples"),
                name: None,
            }],
            ingest: IngestConfig::default(),
            render: RenderConfig::default(),
            brief: BriefConfig::default(),
            telegram: TelegramConfig::default(),
            schedule: ScheduleConfig::default(),
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            origin: None,
            env_overrides: Vec::new(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_file_bytes: 2 * 1024 * 1024,
            extensions: ["md", "markdown", "txt"].map(String::from).to_vec(),
            max_concurrent_fetches: 8,
            max_fetches_per_host: 2,
        }
    }
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig {
            templates_dir: PathBuf::from("templates"),
            message_budget: 4000,
            max_entities: TELEGRAM_MAX_ENTITIES,
            insights: InsightsMode::Collapsed,
            local_times: false,
        }
    }
}

impl Default for BriefConfig {
    fn default() -> Self {
        BriefConfig {
            group: "@ecodailyreport".to_string(),
            default_title: "每日经济简报".to_string(),
            quick_section: "更多动态".to_string(),
            commentary_section: "观点".to_string(),
            category_sections: [
                ("sina_us_stock", "金融市场与宏观经济"),
                ("sina_hk_stock", "金融市场与宏观经济"),
                ("sina_commodity", "金融市场与宏观经济"),
                ("sina_tech", "行业趋势与科技创新"),
                ("sina_china", "中国国内动态"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            overview_targets: 5,
            cover: CoverMode::Photo,
        }
    }
}

impl Config {
    /// Reads `path`; when `path` is the default location and absent, the built-in defaults
    /// are used so that a bare binary still previews the shipped samples.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let overrides: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        Config::load_with(path, &overrides)
    }

    /// [`Config::load`] with the environment given explicitly (for tests).
    pub fn load_with(path: Option<&Path>, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let (path, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            // No config file at the default place: built-in defaults (and the
            // environment), so a bare binary still previews the shipped samples.
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let mut config = Config::from_toml_with_env(&text, &path, env)?;
        if !text.is_empty() {
            config.origin = Some(path);
        }
        Ok(config)
    }

    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::from_toml_with_env(text, path, &[])
    }

    /// Parses the file, applies `ECOBRIEF__SECTION__KEY=value` overrides on top, then
    /// checks the result. Errors name the file (and the variables applied) and the key.
    pub fn from_toml_with_env(
        text: &str,
        path: &Path,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| parse_error(e.to_string().trim_end().to_string()))?;
        let mut applied = Vec::new();
        let mut overrides = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if keys.iter().any(String::is_empty) {
                return Err(parse_error(format!(
                    "environment variable {name}: write it as ECOBRIEF__SECTION__KEY, e.g. ECOBRIEF__SERVER__LISTEN"
                )));
            }
            set_path(&mut table, &keys, env_value(value))
                .map_err(|why| parse_error(format!("environment variable {name}: {why}")))?;
            applied.push(name.clone());
            overrides.push((name.clone(), keys.join(".")));
        }
        // The path of the value serde refused (`sources[2].fetch.timeout_seconds`), which
        // toml's own message does not carry once the file is a value.
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(
            |e: serde_path_to_error::Error<toml::de::Error>| {
                let path = e.path().to_string();
                let inner = e.into_inner().to_string();
                // toml adds a line naming the table it was reading: the path says more.
                let inner = inner.lines().next().unwrap_or_default().trim_end();
                let mut message = if path.is_empty() || path == "." {
                    inner.to_string()
                } else {
                    format!("{path}: {inner}")
                };
                if !applied.is_empty() {
                    message.push_str(&format!(
                        " (with environment overrides {})",
                        applied.join(", ")
                    ));
                }
                parse_error(message)
            },
        )?;
        let mut config = config;
        config.env_overrides = overrides;
        Ok(config)
    }

    /// The environment variable that set `key` (`schedule.publish_cron`), if one did.
    pub fn env_var_for(&self, key: &str) -> Option<&str> {
        self.env_overrides
            .iter()
            .find(|(_, k)| {
                k == key || key.starts_with(&format!("{k}.")) || key.starts_with(&format!("{k}["))
            })
            .map(|(var, _)| var.as_str())
    }

    /// Applies the environment: `ECOBRIEF_API_URL` overrides `telegram.api_url`.
    pub fn apply_env(&mut self) {
        if let Ok(url) = std::env::var("ECOBRIEF_API_URL")
            && !url.trim().is_empty()
        {
            self.telegram.api_url = url.trim().to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn urls_shown_lose_credentials() {
        assert_eq!(
            redact_url("https://user:pw@feeds.example.com/a/b.xml?token=s3cret"),
            "https://feeds.example.com/a/b.xml?…"
        );
        assert_eq!(redact_url("https://example.com/x"), "https://example.com/x");
        let twice = "[[sources]]\nkind = \"feed\"\nurl = \"https://a.example/f\"\n[[sources]]\nkind = \"feed\"\nurl = \"https://a.example/f\"\n";
        let config = Config::from_toml(twice, Path::new("c.toml")).unwrap();
        let err = crate::settings::Settings::from_config(config)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[1]"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let path = Path::new("test.toml");
        let config = Config::from_toml_with_env(
            "[server]\nlisten = \"127.0.0.1:8080\"\n",
            path,
            &env(&[
                ("ECOBRIEF__SERVER__LISTEN", "0.0.0.0:9000"),
                ("ECOBRIEF__RENDER__MESSAGE_BUDGET", "3000"),
                ("ECOBRIEF__TIMEZONE", "UTC"),
                ("ECOBRIEF__TELEGRAM__ADMINS", "[1, 2]"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.listen, "0.0.0.0:9000");
        assert_eq!(config.render.message_budget, 3000);
        assert_eq!(config.timezone, "UTC");
        assert_eq!(config.telegram.admins, vec![1, 2]);
    }

    #[test]
    fn errors_name_the_file_the_key_and_the_variable() {
        let path = Path::new("prod.toml");
        let err = Config::from_toml_with_env(
            "",
            path,
            &env(&[("ECOBRIEF__RENDER__MESSAGE_BUDGET", "many")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("prod.toml") && err.contains("ECOBRIEF__RENDER__MESSAGE_BUDGET"),
            "{err}"
        );
        let err =
            Config::from_toml_with_env("", path, &env(&[("ECOBRIEF__TELEGRAM__TOKEN", "secret")]))
                .unwrap_err()
                .to_string();
        assert!(err.contains("token"), "secrets have no config key: {err}");
        assert!(!err.contains("secret\""), "{err}");
        let settings = |text: &str| {
            let mut config = Config::from_toml(text, path).unwrap();
            config.origin = Some(path.to_path_buf());
            crate::settings::Settings::from_config(config)
        };
        let err = settings("[schedule]\npublish_cron = \"8am\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("schedule.publish_cron") && err.contains("six fields"),
            "{err}"
        );
        let err = Config::from_toml("[[sources]]\nkind = \"feed\"\n", path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("url"), "a feed without a url: {err}");
        let err = settings("timezone = \"Mars/Base\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("timezone") && err.contains("Asia/Shanghai"),
            "{err}"
        );
    }
}
