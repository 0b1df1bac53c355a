//! ecobrief: stored documents → the day's economic brief as Telegram messages.
//!
//! The pipeline, one module per stage: [`sources`] fetch documents, [`ingest`] parses
//! them into items, [`store`] keeps them in SQLite, [`compose`] chooses and groups a
//! day's items, [`render`] turns them into Telegram text with entities and splits it into
//! messages, [`publish`] delivers them. [`app`] holds the handles the stages share,
//! [`runner`] runs ingest and publish as one sequence, and [`application`] starts it all.
//! The edges are thin: [`telegram`] (the only user of teloxide), [`schedule`] and
//! [`server`]. [`model`] and [`message`] are plain data and import nothing of ours.

pub mod app;
pub mod application;
pub mod compose;
pub mod config;
pub mod ingest;
pub mod message;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod publish;
pub mod redact;
pub mod render;
pub mod runner;
pub mod schedule;
pub mod server;
pub mod settings;
pub mod sources;
pub mod store;
pub mod telegram;
pub mod topics;
