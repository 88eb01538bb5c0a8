//! Plain HTTP beside the WebSocket endpoint: health checks for load balancers, Prometheus
//! metrics, and the browser console. Each module adds its routes with `configure`.

pub mod console;
pub mod health;
pub mod metrics;
