//! ecobrief: stored documents → the day's economic brief as Telegram messages.
//!
//! The pipeline, one module per stage: [`ingest`] parses documents into items, [`store`]
//! keeps them in SQLite, [`compose`] chooses and groups a day's items, [`render`] turns them
//! into Telegram text with entities and splits it into messages. [`app`] ties the stages
//! together for the command line (and, later, the bot). Nothing here depends on a Telegram
//! client library.

pub mod app;
pub mod compose;
pub mod config;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod publish;
pub mod render;
pub mod schedule;
pub mod server;
pub mod sources;
pub mod store;
pub mod telegram;
pub mod topics;
