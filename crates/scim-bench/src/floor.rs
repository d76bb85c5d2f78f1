//! The floor for `GET /Users/{id}`: the least any axum server can do for that request. A bare
//! handler looks the user up in a `HashMap` and serialises it: no authentication, no
//! projection, no request log, no store. It runs inside the bench process on a runtime of its
//! own (a multi-thread runtime with one worker per core, as `#[tokio::main]` gives scim-lambda),
//! serves the very documents the service answered, and is loaded by the same client, scenario
//! and concurrency as the service, in alternating rounds, so both see the same machine.

use crate::client::Scim;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use reqwest::Method;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Users fetched per list request when copying the service's users.
const PAGE: usize = 500;

type Users = Arc<HashMap<String, Value>>;

/// The floor server, stopped when dropped.
#[derive(Debug)]
pub struct FloorServer {
    /// `http://127.0.0.1:<port>/scim/v2`, the same shape as the service's base.
    pub base: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FloorServer {
    /// Starts serving `users` (id → document) on a free loopback port.
    pub fn start(users: HashMap<String, Value>) -> Result<Self, String> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("floor: cannot bind a loopback port: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("floor: cannot configure the listener: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("floor: no local address: {e}"))?
            .port();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("floor")
            .build()
            .map_err(|e| format!("floor: cannot start a runtime: {e}"))?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = router(Arc::new(users));
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                // Not a graceful shutdown: the client's idle keep-alive connections would hold
                // it open. Dropping the runtime ends the connection tasks.
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
        });
        Ok(Self {
            base: format!("http://127.0.0.1:{port}/scim/v2"),
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }
}

impl Drop for FloorServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn router(users: Users) -> Router {
    Router::new()
        .route("/scim/v2/Users/{id}", get(get_user))
        .with_state(users)
}

async fn get_user(State(users): State<Users>, Path(id): Path<String>) -> Response {
    let Some(user) = users.get(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match serde_json::to_vec(user) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/scim+json")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The service's users as it lists them, by id: what the floor serves. Fails unless every one of
/// `ids` is among them.
pub async fn copy_users(scim: &Scim, ids: &[String]) -> Result<HashMap<String, Value>, String> {
    let mut users = HashMap::with_capacity(ids.len());
    let mut start_index = 1;
    // Each page adds at least one user or ends the loop; `totalResults` bounds the pages.
    loop {
        let path = format!("/Users?startIndex={start_index}&count={PAGE}");
        let body = scim.send(scim.request(Method::GET, &path)).await?;
        let page: Value =
            serde_json::from_slice(&body).map_err(|e| format!("GET {path}: the answer is not JSON: {e}"))?;
        let resources = page["Resources"].as_array().map_or(&[][..], Vec::as_slice);
        for user in resources {
            if let Some(id) = user["id"].as_str() {
                users.insert(id.to_string(), user.clone());
            }
        }
        start_index += resources.len();
        let total = page["totalResults"].as_u64().unwrap_or(0);
        if resources.is_empty() || start_index as u64 > total {
            break;
        }
    }
    match ids.iter().find(|id| !users.contains_key(*id)) {
        Some(id) => Err(format!("floor: the service did not list user {id}")),
        None => Ok(users),
    }
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[tokio::test]
    async fn serves_the_documents_it_holds() {
        let user = serde_json::json!({"id": "u1", "userName": "a"});
        let floor = FloorServer::start(HashMap::from([("u1".to_string(), user.clone())])).unwrap();
        let scim = Scim::new(&floor.base, "unused").unwrap();
        let body = scim.send(scim.request(Method::GET, "/Users/u1")).await.unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), user);
        let missing = scim
            .exchange(scim.request(Method::GET, "/Users/u2"))
            .await
            .unwrap();
        assert_eq!(missing.status, reqwest::StatusCode::NOT_FOUND);
    }
}
