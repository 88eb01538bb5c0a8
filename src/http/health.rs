//! `GET /healthz`: the process is up. `GET /readyz`: it should get traffic: the database
//! answers and the server is not draining for shutdown. Not ready is 503 with a JSON reason, so
//! a load balancer stops routing new connections here while existing ones finish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::config::DatabaseSettings;
use crate::store;

/// What `/readyz` looks at. Shared by the HTTP workers and whoever shuts the server down.
pub struct Readiness {
    db: DatabaseConnection,
    database: DatabaseSettings,
    /// How long the database may take to answer.
    timeout: Duration,
    draining: AtomicBool,
}

impl Readiness {
    pub fn new(db: DatabaseConnection, database: DatabaseSettings, timeout: Duration) -> Self {
        Readiness {
            db,
            database,
            timeout,
            draining: AtomicBool::new(false),
        }
    }

    /// From now on `/readyz` answers 503 "draining"; there is no way back (shutdown only).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// `Err` when the server should not get new traffic.
    pub async fn check(&self) -> Result<(), NotReady> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(NotReady::Draining);
        }
        let reachable = store::check_reachable(&self.db, &self.database);
        match tokio::time::timeout(self.timeout, reachable).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NotReady::Database(e.to_string())),
            Err(_) => Err(NotReady::Database(format!(
                "no answer within {} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("draining")]
    Draining,
    #[error("database unreachable: {0}")]
    Database(String),
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(readiness: web::Data<Arc<Readiness>>) -> HttpResponse {
    match readiness.check().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(reason) => {
            if let NotReady::Database(_) = reason {
                log::warn!("not ready: {reason}");
            }
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "reason": reason.to_string()}))
        }
    }
}
