//! `GET /metrics`: the Prometheus text format, on the main port or on a listener of its own
//! (`metrics.bind`).

use actix_web::{http::header, web, HttpResponse};

use crate::app::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

async fn metrics(app: web::Data<AppState>) -> HttpResponse {
    let metrics = &app.metrics;
    metrics
        .connections_open
        .set(i64::try_from(app.presence.connection_count()).unwrap_or(i64::MAX));
    metrics
        .room_actors_live
        .set(i64::try_from(app.rooms.live()).unwrap_or(i64::MAX));
    match metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, prometheus::TEXT_FORMAT))
            .body(text),
        Err(e) => {
            log::error!("cannot render metrics: {e}");
            HttpResponse::InternalServerError().finish()
        }
    }
}
