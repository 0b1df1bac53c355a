//! Notices for the admins (a source failing or recovering, a brief that is late, a day
//! skipped). Stages that have something to say hold a [`Notifier`]; the bot holds the
//! receiving end and sends each notice to every configured admin. So sources, the server
//! and the job runner never reach into delivery to be heard.

use tokio::sync::mpsc;

/// The sending end: cheap to clone, never blocks, never fails.
#[derive(Clone, Debug)]
pub struct Notifier {
    tx: Option<mpsc::UnboundedSender<String>>,
    /// Without admins, a notice would reach nobody: it is logged as a warning instead.
    admins_configured: bool,
}

/// The receiving end, drained by whoever can reach the admins.
pub type Notices = mpsc::UnboundedReceiver<String>;

impl Notifier {
    pub fn channel(admins_configured: bool) -> (Notifier, Notices) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Notifier {
                tx: Some(tx),
                admins_configured,
            },
            rx,
        )
    }

    /// A notifier with nobody listening (the command line): notices go to the log.
    pub fn log_only() -> Notifier {
        Notifier {
            tx: None,
            admins_configured: false,
        }
    }

    pub fn tell_admins(&self, text: impl Into<String>) {
        let text = text.into();
        let delivered = self.admins_configured
            && self
                .tx
                .as_ref()
                .is_some_and(|tx| tx.send(text.clone()).is_ok());
        if delivered {
            tracing::info!("notice to admins: {text}");
        } else {
            tracing::warn!("notice (no admin to tell; set telegram.admins): {text}");
        }
    }
}

/// Rings whenever new documents were stored outside the job runner (a push to the API),
/// so a day waiting for its brief is checked again at once.
#[derive(Clone, Debug, Default)]
pub struct IngestBell {
    bell: std::sync::Arc<tokio::sync::Notify>,
}

impl IngestBell {
    pub fn ring(&self) {
        self.bell.notify_one();
    }

    /// Resolves at the next ring (or at once, for a ring nobody heard yet).
    pub async fn heard(&self) {
        self.bell.notified().await;
    }
}
