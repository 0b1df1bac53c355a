//! The HTTP server: items API, health, metrics, webhook. (Being built for issue 4.)
