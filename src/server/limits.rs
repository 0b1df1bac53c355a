//! Our own accept loop in place of `axum::serve`, so idle and slow clients cannot hold the
//! server: a cap on open connections (`server.max_connections`), a deadline for a
//! request's headers that also bounds an idle keep-alive connection
//! (`server.header_timeout_seconds`), and one for the whole request
//! (`server.request_timeout_seconds`).
//!
//! When every connection slot is taken the loop stops accepting: new connections wait in
//! the kernel's listen backlog, where they cost the process no file descriptor, and are
//! taken as soon as a slot frees. A stalled client frees its slot within the header
//! timeout, so a health check waits at most that long and never meets "Too many open
//! files".

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::settings::ServerSettings;

/// The connection and request limits of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections open at once; past it, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// Longest wait for a request's headers, from the first byte on a new connection or
    /// from the end of the previous response on a kept-alive one (so also the idle bound).
    pub header_timeout: Duration,
    /// Longest a request may take once its headers are in: the body's arrival and the
    /// handler together.
    pub request_timeout: Duration,
}

impl Default for ServerLimits {
    /// The defaults of `[server]`.
    fn default() -> ServerLimits {
        ServerLimits {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl From<&ServerSettings> for ServerLimits {
    fn from(settings: &ServerSettings) -> ServerLimits {
        ServerLimits {
            max_connections: settings.max_connections,
            header_timeout: settings.header_timeout,
            request_timeout: settings.request_timeout,
        }
    }
}

/// How often the "all connections in use" and accept-error warnings may repeat.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// Pause after an accept error that is not about one connection (out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Resolves once `stop` is true or its sender is gone.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// True at most once per [`WARN_EVERY`].
fn warn_due(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|at| now.duration_since(at) < WARN_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

/// Errors that concern one connection only; the next accept is fine.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Serves `router` on `listener` with `limits` until `stop` turns true (or its sender is
/// gone); requests in flight are finished first.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    stop: watch::Receiver<bool>,
    limits: ServerLimits,
) -> std::io::Result<()> {
    // Outermost, so it also covers routes merged in after `router()` (the webhook).
    let router = router.layer(axum::middleware::from_fn_with_state(
        limits.request_timeout,
        request_deadline,
    ));
    let service = TowerToHyperService::new(router);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    // `acquire_many` below counts in u32.
    let slots = limits.max_connections.clamp(1, u32::MAX as usize);
    let semaphore = Arc::new(Semaphore::new(slots));
    let mut full_warned = None;
    let mut error_warned = None;
    let mut stopping = std::pin::pin!(stopped(stop.clone()));
    'accept: loop {
        let permit: OwnedSemaphorePermit = match Arc::clone(&semaphore).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if warn_due(&mut full_warned) {
                    tracing::warn!(
                        "HTTP server: all {slots} connections in use (server.max_connections); \
                         new connections wait until one closes"
                    );
                }
                tokio::select! {
                    biased;
                    () = &mut stopping => break 'accept,
                    permit = Arc::clone(&semaphore).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break 'accept,
                    },
                }
            }
        };
        let (stream, peer) = loop {
            tokio::select! {
                biased;
                () = &mut stopping => break 'accept,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => break accepted,
                    Err(e) if is_connection_error(&e) => {}
                    Err(e) => {
                        if warn_due(&mut error_warned) {
                            tracing::error!(
                                "HTTP server cannot accept connections: {e}; raise the file \
                                 limit (LimitNOFILE) or lower server.max_connections"
                            );
                        }
                        tokio::select! {
                            biased;
                            () = &mut stopping => break 'accept,
                            () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                        }
                    }
                },
            }
        };
        tokio::spawn(connection(
            stream,
            peer,
            http.clone(),
            service.clone(),
            stop.clone(),
            permit,
        ));
    }
    drop(listener);
    // Every open connection holds a slot: all slots back means every connection closed.
    let _ = semaphore.acquire_many(slots as u32).await;
    Ok(())
}

/// One connection, holding its slot until it closes. At stop, a connection waiting for a
/// request closes at once and one in a request closes after the response.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    http: http1::Builder,
    service: TowerToHyperService<Router>,
    stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let connection = http.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped(stop) => {
            connection.as_mut().graceful_shutdown();
            connection.as_mut().await
        }
    };
    if let Err(e) = result {
        // A header timeout, a client gone mid-request, a malformed request: the client's
        // business, not the operator's.
        tracing::debug!("HTTP connection from {peer} closed: {e}");
    }
}

/// Bounds a request from its headers to its response. When the time is up before the
/// body was all received the client was slow: 408. Otherwise we were: 503. Either way the
/// connection is closed.
async fn request_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let received = Arc::new(AtomicBool::new(body.is_end_stream()));
    let body = Body::new(Tracked {
        inner: body,
        received: Arc::clone(&received),
    });
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let request = Request::from_parts(parts, body);
    let Ok(response) = tokio::time::timeout(limit, next.run(request)).await else {
        let seconds = limit.as_secs();
        let (status, message) = if received.load(Ordering::Relaxed) {
            tracing::warn!(
                "HTTP: {method} {path} got no answer within {seconds} s \
                 (server.request_timeout_seconds); answered 503"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "no answer within {seconds} s (server.request_timeout_seconds); try again later\n"
                ),
            )
        } else {
            (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {seconds} s \
                     (server.request_timeout_seconds); send it in one go\n"
                ),
            )
        };
        return (
            status,
            [(header::CONNECTION, HeaderValue::from_static("close"))],
            message,
        )
            .into_response();
    };
    response
}

/// A request body that records when it has all been received.
struct Tracked {
    inner: Body,
    received: Arc<AtomicBool>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || this.inner.is_end_stream() {
            this.received.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_those_of_the_config() {
        let settings = crate::settings::Settings::from_config(crate::config::Config::default())
            .expect("the default config parses");
        assert_eq!(
            ServerLimits::from(&settings.server),
            ServerLimits::default()
        );
    }

    #[tokio::test]
    async fn a_slow_handler_gets_503_and_stop_waits_for_requests_in_flight() {
        let started = Arc::new(tokio::sync::Notify::new());
        let in_handler = Arc::clone(&started);
        let router = Router::new()
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }),
            )
            .route(
                "/brief",
                axum::routing::get(move || {
                    let started = Arc::clone(&in_handler);
                    async move {
                        started.notify_one();
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        "done"
                    }
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopping) = watch::channel(false);
        let limits = ServerLimits {
            max_connections: 4,
            header_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(1),
        };
        let server = tokio::spawn(serve(listener, router, stopping, limits));
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();

        let slow = client.get(format!("{base}/slow")).send().await.unwrap();
        assert_eq!(slow.status(), 503);
        assert!(
            slow.text()
                .await
                .unwrap()
                .contains("server.request_timeout_seconds")
        );

        let in_flight = tokio::spawn(client.get(format!("{base}/brief")).send());
        tokio::time::timeout(Duration::from_secs(10), started.notified())
            .await
            .expect("the request reaches its handler");
        stop.send(true).unwrap();
        let answer = in_flight.await.unwrap().unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.unwrap(), "done");
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server stops once its requests are answered")
            .unwrap()
            .unwrap();
    }

    #[test]
    fn warnings_repeat_at_most_once_a_minute() {
        let mut last = None;
        assert!(warn_due(&mut last));
        assert!(!warn_due(&mut last));
    }
}
