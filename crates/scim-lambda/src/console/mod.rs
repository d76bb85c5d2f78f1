//! The operators' console: server-rendered pages under `/admin/` for the people who run the
//! service for a tenant: SCIM tokens, review of conflicts and deleted users, settings, the
//! provisioning log, and an overview. In AWS it is its own function (`SCIM_FUNCTION=console`)
//! with its own role, the only one of the service's functions that may write the token registry;
//! locally the one server carries both.
//!
//! **Security boundary.** Every page and action needs a session ([`session`]): a cookie the
//! console signed, `Secure`, `HttpOnly`, `SameSite=Strict`, lasting an hour. A session comes
//! only from signing in ([`signin`]): the one-time local link, or OpenID Connect (Cognito in AWS)
//! with the ID token verified here ([`oidc`]). An IdP's SCIM bearer token opens nothing here, and
//! a session opens nothing under `/scim/v2` (that boundary reads only `Authorization`). Every
//! form carries the session's CSRF token and is refused without it; every answer forbids framing
//! and scripts from anywhere but this origin ([`security_headers`]). A tenant-scoped operator
//! reaches only their tenants: another tenant's pages answer 404, as a missing one does. Every
//! action is recorded in the tenant's provisioning log with the operator's identity ([`audit`]).

pub mod audit;
pub mod html;
pub mod log;
pub mod oidc;
pub mod overview;
pub mod review;
pub mod session;
pub mod settings;
pub mod signin;
pub mod tokens;

use crate::extract::QueryPairs;
use crate::origin;
use crate::state::AppState;
use crate::telemetry::RequestOrigin;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::Router;
use html::{Page, Viewer};
use scim_auth::TokenRegistry;
use scim_store::TenantId;
use session::{Scope, Session, SessionKeys};
use std::sync::Arc;

/// The session cookie. Not `__Host-`: browsers refuse that prefix on `http://127.0.0.1`, where
/// the local console runs; `Path=/admin` keeps it off `/scim/v2` all the same.
pub const SESSION_COOKIE: &str = "scim_console";

/// The largest form accepted (an import of existing accounts is the largest).
const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

/// What the console needs beyond the service's state.
#[derive(Debug)]
pub struct Console {
    /// The token registry, written by the SCIM Tokens page.
    pub registry: Arc<dyn TokenRegistry>,
    /// The one-time local sign-in link (local runs only).
    pub local_login: Option<signin::LocalLogin>,
    /// Sign-in through an OpenID Connect provider (Cognito in AWS).
    pub oidc: Option<signin::OidcLogin>,
    /// Tokens expiring within this many days are called out.
    pub expiry_warning_days: i64,
}

/// The console's routes, behind CloudFront's origin check and with its security headers.
pub fn routes(state: AppState) -> Router {
    let t = "/admin/tenants/{tenant}";
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/") }))
        .route("/admin/", get(overview::page))
        .route("/admin/switch", get(switch))
        .route("/admin/login", get(signin::login))
        .route("/admin/callback", get(signin::callback))
        .route("/admin/logout", post(signin::logout))
        .route("/admin/assets/console.css", get(assets::css))
        .route("/admin/assets/console.js", get(assets::js))
        .route(&format!("{t}/tokens"), get(tokens::page).post(tokens::create))
        .route(&format!("{t}/tokens/{{id}}/revoke"), post(tokens::revoke))
        .route(&format!("{t}/tokens/{{id}}/rotate"), post(tokens::rotate))
        .route(&format!("{t}/review"), get(review::page))
        .route(
            &format!("{t}/conflicts/{{id}}/{{decision}}"),
            post(review::resolve),
        )
        .route(&format!("{t}/deleted/{{id}}/restore"), post(review::restore))
        .route(&format!("{t}/import"), post(review::import))
        .route(&format!("{t}/settings"), get(settings::page).post(settings::save))
        .route(&format!("{t}/log"), get(log::page))
        .route(&format!("{t}/log/record"), get(log::record))
        // Every other path under /admin answers the console's own 404 page.
        .route("/admin/{*rest}", any(not_found))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), origin_only))
        .with_state(state)
}

mod assets {
    use super::*;

    pub async fn css() -> Response {
        asset("text/css; charset=utf-8", include_str!("assets/console.css"))
    }

    pub async fn js() -> Response {
        asset(
            "text/javascript; charset=utf-8",
            include_str!("assets/console.js"),
        )
    }

    fn asset(content_type: &'static str, body: &'static str) -> Response {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            body,
        )
            .into_response()
    }
}

/// In AWS only CloudFront may call the console, as for the SCIM API (`origin.rs`).
async fn origin_only(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if let Err(refused) = origin::check(state.origin.as_deref(), &mut request).await {
        return refused;
    }
    next.run(request).await
}

/// The console's pages may run only their own scripts and styles, be framed by nobody, and post
/// forms only here; nothing is cached, nothing leaks in `Referer`.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// What goes wrong in the console, as a page (never a JSON error).
#[derive(Debug)]
pub enum ConsoleError {
    /// No valid session. A page read is sent to sign in; anything else answers 401.
    SignIn { read: bool },
    /// A form without its session's CSRF token.
    Forged,
    /// A page or tenant that does not exist for this operator.
    NotFound,
    /// A mistake in what was sent (400), with what to do about it.
    Invalid(String),
    /// Our fault or a dependency's (500 or 503), with what happened.
    Failed { status: StatusCode, detail: String },
}

impl ConsoleError {
    pub fn failed(detail: impl std::fmt::Display) -> ConsoleError {
        tracing::error!(error = %detail, "console action failed");
        ConsoleError::Failed {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: detail.to_string(),
        }
    }
}

impl From<scim_store::StoreError> for ConsoleError {
    fn from(e: scim_store::StoreError) -> ConsoleError {
        let error = scim_proto::ScimError::from(e);
        match error.status {
            404 => ConsoleError::NotFound,
            400 | 409 | 412 => ConsoleError::Invalid(error.detail),
            _ => ConsoleError::failed(error.detail),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let page = |status: StatusCode, title: &str, text: &str| {
            let body = format!(
                "{}<p><a href=\"/admin/\">Back to the console</a></p>",
                html::notice(html::Notice::Error, text)
            );
            (status, Html(html::bare(title, &body))).into_response()
        };
        match self {
            ConsoleError::SignIn { read: true } => Redirect::to("/admin/login").into_response(),
            ConsoleError::SignIn { read: false } => page(
                StatusCode::UNAUTHORIZED,
                "Sign in",
                "You are not signed in, or your session has ended. Sign in again, then repeat the action.",
            ),
            ConsoleError::Forged => page(
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form did not carry this session's security token (it may come from an older \
                 session or another site). Reload the page and try again.",
            ),
            ConsoleError::NotFound => page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page, or it belongs to a tenant you do not operate.",
            ),
            ConsoleError::Invalid(detail) => page(StatusCode::BAD_REQUEST, "Not done", &detail),
            ConsoleError::Failed { status, detail } => page(status, "Something failed", &detail),
        }
    }
}

pub type ConsoleResult<T> = Result<T, ConsoleError>;

/// A signed-in operator: the session in a valid cookie.
#[derive(Debug)]
pub struct Operator {
    pub session: Session,
    pub keys: SessionKeys,
}

impl Operator {
    pub fn csrf(&self) -> String {
        self.keys.csrf_token(&self.session)
    }

    /// The tenant named in a path, if this operator may open it.
    pub fn tenant(&self, name: &str) -> ConsoleResult<TenantId> {
        let tenant = TenantId::new(name).map_err(|_| ConsoleError::NotFound)?;
        if self.session.scope.allows(tenant.as_str()) {
            Ok(tenant)
        } else {
            Err(ConsoleError::NotFound)
        }
    }

    /// The whole document of `page`, in the frame with this operator's tenants.
    pub async fn render(&self, state: &AppState, page: Page) -> ConsoleResult<Response> {
        let tenants = visible_tenants(state, &self.session.scope).await?;
        let csrf = self.csrf();
        let viewer = Viewer {
            session: &self.session,
            csrf: &csrf,
            tenants: &tenants,
        };
        Ok(Html(html::document(&viewer, &page)).into_response())
    }
}

impl Operator {
    /// A tenant's page: `body` in the frame, under `section`.
    pub async fn render_tenant(
        &self,
        state: &AppState,
        section: html::Section,
        tenant: &TenantId,
        body: String,
    ) -> ConsoleResult<Response> {
        let page = Page {
            section,
            tenant: Some(tenant.to_string()),
            body,
        };
        self.render(state, page).await
    }
}

/// The session keys of this moment (the cursor keys may have rotated).
pub async fn session_keys(state: &AppState) -> SessionKeys {
    SessionKeys::from_cursor_keys(&*state.cursor_keys.get().await)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let read = parts.method == Method::GET || parts.method == Method::HEAD;
        let keys = session_keys(state).await;
        let session = cookie(parts, SESSION_COOKIE)
            .and_then(|value| keys.open(value, scim_store::now()))
            .ok_or(ConsoleError::SignIn { read })?;
        Ok(Operator { session, keys })
    }
}

/// A submitted form, from a signed-in operator, carrying their CSRF token: the only way an
/// action handler receives input.
#[derive(Debug)]
pub struct ActionForm {
    pub operator: Operator,
    pub fields: QueryPairs,
    /// Who sent it, for the action's provisioning log record.
    pub origin: RequestOrigin,
}

impl ActionForm {
    /// The first value of `name`, trimmed; empty counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// The first value of `name` as sent, untrimmed (text whose lines are counted).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.fields.get(name)
    }
}

impl FromRequest<AppState> for ActionForm {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let operator = Operator::from_request_parts(&mut parts, state).await?;
        let Ok(origin) = RequestOrigin::from_request_parts(&mut parts, state).await;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| ConsoleError::Invalid(format!("The form is larger than {MAX_FORM_BYTES} bytes.")))?;
        let fields = QueryPairs::parse(&bytes);
        if !fields
            .get("csrf")
            .is_some_and(|token| operator.keys.csrf_valid(&operator.session, token))
        {
            return Err(ConsoleError::Forged);
        }
        Ok(ActionForm {
            operator,
            fields,
            origin,
        })
    }
}

/// The tenants an operator may open: their own, or for a global operator every tenant that has
/// a token (and `default`, the local tenant).
pub async fn visible_tenants(state: &AppState, scope: &Scope) -> ConsoleResult<Vec<String>> {
    match scope {
        Scope::Tenants(tenants) => Ok(tenants.iter().cloned().collect()),
        Scope::All => {
            let loaded = state
                .console
                .registry
                .load()
                .await
                .map_err(ConsoleError::failed)?;
            let mut tenants: Vec<String> = loaded.document.tokens.into_iter().map(|t| t.tenant).collect();
            tenants.push("default".into());
            tenants.sort();
            tenants.dedup();
            Ok(tenants)
        }
    }
}

/// `GET /admin/switch?tenant=&section=`: the tenant picker's target.
async fn switch(operator: Operator, query: QueryPairs) -> ConsoleResult<Redirect> {
    let tenant = operator.tenant(query.get("tenant").unwrap_or(""))?;
    let section = html::Section::TENANT
        .into_iter()
        .find(|s| Some(s.slug()) == query.get("section"))
        .unwrap_or(html::Section::Tokens);
    Ok(Redirect::to(&html::section_url(tenant.as_str(), section)))
}

async fn not_found() -> ConsoleError {
    ConsoleError::NotFound
}

/// After an action: back to a page (303, so a reload does not post again) with a notice code
/// the page turns into fixed text.
pub fn done(url: &str, notice: &str) -> Response {
    Redirect::to(&format!("{url}?notice={notice}")).into_response()
}
