//! The edge of the HTTP API, before any handler runs: the listener (header-read timeout,
//! connection cap, shutdown deadline), the client's address (trusted proxies), rate limits
//! by route class, per-route request timeouts, CORS and security headers.

pub mod client;
pub mod layers;
pub mod listener;
pub mod rate_limit;
