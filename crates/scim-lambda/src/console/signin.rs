//! Signing in and out. Two ways in, both ending in the same session cookie:
//! - **the local link**: the local server prints `…/admin/login?code=<one-time code>` at start;
//!   the code signs in a local operator of every tenant, works once, and expires after
//!   [`LOCAL_CODE_LIFETIME`]. It does not exist under Lambda.
//! - **OpenID Connect** (Amazon Cognito's hosted sign-in in AWS): authorization code with PKCE;
//!   the state, nonce and verifier wait in a signed, ten-minute cookie scoped to the callback,
//!   and the ID token is verified here ([`super::oidc`]). Groups decide the scope: the operators'
//!   group grants every tenant, `<prefix><tenant>` grants one, no group grants nothing.
//!
//! Both answer with a short page that moves on to the console, rather than a redirect: a
//! `SameSite=Strict` cookie set during a navigation that began on another site (the provider)
//! is not sent on that navigation's redirects, so a redirect would land on the sign-in again.

use super::html::{self, esc};
use super::oidc::{Identity, OidcSettings, PendingLogin, Provider};
use super::session::{random_token, Scope, Session, SESSION_LIFETIME};
use super::{cookie, session_keys, ActionForm, ConsoleError, ConsoleResult, SESSION_COOKIE};
use crate::extract::{BaseUrl, QueryPairs};
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long the local sign-in link works.
pub const LOCAL_CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// The cookie holding a sign-in in progress.
const LOGIN_COOKIE: &str = "scim_console_login";
/// How long a sign-in at the provider may take.
const LOGIN_LIFETIME_SECONDS: i64 = 600;

/// The one-time code of the local sign-in link.
#[derive(Debug)]
pub struct LocalLogin {
    code: String,
    until: Instant,
    used: AtomicBool,
}

impl LocalLogin {
    pub fn new() -> Result<LocalLogin, String> {
        Ok(LocalLogin {
            code: random_token()?,
            until: Instant::now() + LOCAL_CODE_LIFETIME,
            used: AtomicBool::new(false),
        })
    }

    /// The code, for the line the server prints.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Whether `presented` is the code, unexpired and not used before; a match uses it up.
    pub fn redeem(&self, presented: &str, now: Instant) -> bool {
        let matches = bool::from(self.code.as_bytes().ct_eq(presented.as_bytes()));
        matches && now < self.until && !self.used.swap(true, Ordering::AcqRel)
    }
}

/// Sign-in through an OpenID Connect provider, and what its groups mean.
#[derive(Debug)]
pub struct OidcLogin {
    pub provider: Provider,
    /// The group whose members operate every tenant.
    pub operator_group: String,
    /// `<prefix><tenant>`: the groups whose members operate one tenant.
    pub tenant_group_prefix: String,
    /// Where signing out continues, to end the provider's session too.
    pub logout_url: Option<String>,
}

impl OidcLogin {
    pub fn new(
        settings: OidcSettings,
        operator_group: String,
        tenant_group_prefix: String,
        logout_url: Option<String>,
    ) -> OidcLogin {
        OidcLogin {
            provider: Provider::new(settings),
            operator_group,
            tenant_group_prefix,
            logout_url,
        }
    }

    /// What an identity's groups let it operate; `None`: nothing.
    pub fn scope(&self, groups: &[String]) -> Option<Scope> {
        if groups.contains(&self.operator_group) {
            return Some(Scope::All);
        }
        let tenants: BTreeSet<String> = groups
            .iter()
            .filter_map(|g| g.strip_prefix(&self.tenant_group_prefix))
            .filter(|t| scim_store::TenantId::new(t).is_ok())
            .map(str::to_string)
            .collect();
        (!tenants.is_empty()).then_some(Scope::Tenants(tenants))
    }
}

/// A sign-in at the provider, between the redirect there and the callback.
#[derive(Debug, Serialize, Deserialize)]
struct LoginInProgress {
    pending: PendingLogin,
    /// Unix seconds.
    expires: i64,
}

fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, same_site: &str) -> HeaderValue {
    let text =
        format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite={same_site}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The URL the provider sends the browser back to.
fn callback_url(base: &BaseUrl) -> String {
    format!("{}/admin/callback", base.0.trim_end_matches(crate::BASE_PATH))
}

/// The page that sets the session and moves on to the console.
fn signed_in(state_keys: &super::session::SessionKeys, session: &Session, clear_login: bool) -> Response {
    let body =
        "<p role=\"status\">You are signed in.</p><p><a href=\"/admin/\">Continue to the console</a></p>";
    let document = html::bare_moving_on("Signed in", body, Some("/admin/"));
    let mut response = Html(document).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            &state_keys.seal(session),
            "/admin",
            SESSION_LIFETIME.whole_seconds(),
            "Strict",
        ),
    );
    if clear_login {
        headers.append(
            header::SET_COOKIE,
            set_cookie(LOGIN_COOKIE, "", "/admin/callback", 0, "Lax"),
        );
    }
    response
}

fn refused(status: StatusCode, text: &str) -> Response {
    let body = format!(
        "{}<p><a href=\"/admin/login\">Sign in again</a></p>",
        html::notice(html::Notice::Error, text)
    );
    (status, Html(html::bare("Sign-in refused", &body))).into_response()
}

/// `GET /admin/login[?code=]`: the local link's code, or off to the provider.
pub async fn login(
    State(state): State<AppState>,
    query: QueryPairs,
    base: BaseUrl,
) -> ConsoleResult<Response> {
    let console = &state.console;
    if let Some(code) = query.get("code") {
        let Some(local) = &console.local_login else {
            return Ok(refused(
                StatusCode::UNAUTHORIZED,
                "Sign-in links exist only on a local server.",
            ));
        };
        if !local.redeem(code, Instant::now()) {
            return Ok(refused(
                StatusCode::UNAUTHORIZED,
                "This sign-in link is wrong, expired (after 10 minutes) or already used. Restart the \
                 local server for a new one.",
            ));
        }
        let session = Session::new(
            "local".into(),
            "local operator".into(),
            Scope::All,
            scim_store::now(),
        )
        .map_err(ConsoleError::failed)?;
        tracing::info!(operator = "local", "console sign-in with the local link");
        return Ok(signed_in(&session_keys(&state).await, &session, false));
    }
    let Some(oidc) = &console.oidc else {
        let text = if console.local_login.is_some() {
            "Open the sign-in link the local server printed when it started \
             (console: http://…/admin/login?code=…). It works once; restart the server for a new one."
        } else {
            "No sign-in is configured for this console (SCIM_CONSOLE_OIDC_ISSUER)."
        };
        return Ok((
            StatusCode::UNAUTHORIZED,
            Html(html::bare("Sign in", &format!("<p>{}</p>", esc(text)))),
        )
            .into_response());
    };
    let (url, pending) = oidc
        .provider
        .authorization_request(&callback_url(&base))
        .await
        .map_err(ConsoleError::failed)?;
    let progress = LoginInProgress {
        pending,
        expires: scim_store::now().unix_timestamp() + LOGIN_LIFETIME_SECONDS,
    };
    let keys = session_keys(&state).await;
    let mut response = Redirect::to(&url).into_response();
    // Lax: the provider's redirect back is a navigation from another site.
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            &keys.seal_login(&progress),
            "/admin/callback",
            LOGIN_LIFETIME_SECONDS,
            "Lax",
        ),
    );
    Ok(response)
}

/// The callback's own extractor: the login cookie is read from the request's parts.
#[derive(Debug)]
pub struct LoginCookie(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for LoginCookie {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(LoginCookie(cookie(parts, LOGIN_COOKIE).map(str::to_string)))
    }
}

/// `GET /admin/callback?code=&state=`: the provider's answer.
pub async fn callback(
    State(state): State<AppState>,
    query: QueryPairs,
    base: BaseUrl,
    LoginCookie(login_cookie): LoginCookie,
) -> ConsoleResult<Response> {
    let Some(oidc) = &state.console.oidc else {
        return Err(ConsoleError::NotFound);
    };
    if let Some(error) = query.get("error") {
        let detail = query.get("error_description").unwrap_or("");
        return Ok(refused(
            StatusCode::UNAUTHORIZED,
            &format!("The sign-in service refused: {error} {detail}"),
        ));
    }
    let keys = session_keys(&state).await;
    let now = scim_store::now();
    let progress: Option<LoginInProgress> = login_cookie.as_deref().and_then(|c| keys.open_login(c));
    let (Some(progress), Some(code), Some(returned_state)) =
        (progress, query.get("code"), query.get("state"))
    else {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started here, or took longer than 10 minutes.",
        ));
    };
    let state_matches = bool::from(progress.pending.state.as_bytes().ct_eq(returned_state.as_bytes()));
    if !state_matches || progress.expires <= now.unix_timestamp() {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started here, or took longer than 10 minutes.",
        ));
    }
    let identity: Identity = match oidc
        .provider
        .complete(&progress.pending, code, &callback_url(&base))
        .await
    {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(error = %e, "console sign-in refused");
            return Ok(refused(
                StatusCode::UNAUTHORIZED,
                &format!("The sign-in could not be verified: {e}"),
            ));
        }
    };
    let Some(scope) = oidc.scope(&identity.groups) else {
        tracing::warn!(subject = %identity.subject, "console sign-in of an account in no console group");
        return Ok(refused(
            StatusCode::FORBIDDEN,
            &format!(
                "Your account is in no console group. An administrator adds it to '{}' (every tenant) or \
                 to '{}<tenant>' (one tenant).",
                oidc.operator_group, oidc.tenant_group_prefix
            ),
        ));
    };
    let display = identity
        .email
        .clone()
        .or_else(|| identity.name.clone())
        .unwrap_or_else(|| identity.subject.clone());
    let session = Session::new(format!("oidc:{}", identity.subject), display, scope, now)
        .map_err(ConsoleError::failed)?;
    tracing::info!(operator = %session.subject, "console sign-in");
    Ok(signed_in(&keys, &session, true))
}

/// `POST /admin/logout`: the session cookie is cleared, and an operator who signed in at the
/// provider goes on to its sign-out, so the next sign-in asks for their credentials again. (A
/// page that moves on rather than a redirect: `form-action 'self'` would stop a form's redirect
/// to another origin.)
pub async fn logout(State(state): State<AppState>, form: ActionForm) -> Response {
    tracing::info!(operator = %form.operator.session.subject, "console sign-out");
    let provider_logout = state
        .console
        .oidc
        .as_ref()
        .and_then(|o| o.logout_url.as_deref())
        .filter(|_| form.operator.session.subject.starts_with("oidc:"));
    let document = html::bare_moving_on(
        "Signed out",
        "<p role=\"status\">You are signed out.</p><p><a href=\"/admin/login\">Sign in again</a></p>",
        provider_logout,
    );
    let mut response = Html(document).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/admin", 0, "Strict"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_code_works_once_and_expires() {
        let login = LocalLogin::new().unwrap();
        let code = login.code().to_string();
        let now = Instant::now();
        assert!(!login.redeem("wrong", now));
        assert!(!login.redeem(&code, now + LOCAL_CODE_LIFETIME), "expired");
        assert!(login.redeem(&code, now));
        assert!(!login.redeem(&code, now), "used");
    }

    #[test]
    fn groups_decide_the_scope() {
        let settings = OidcSettings {
            issuer: "http://127.0.0.1:1".into(),
            client_id: "c".into(),
            client_secret: None,
            groups_claim: "groups".into(),
        };
        let oidc = OidcLogin::new(settings, "scim-operators".into(), "scim-tenant-".into(), None);
        let groups = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            oidc.scope(&groups(&["scim-operators", "scim-tenant-acme"])),
            Some(Scope::All)
        );
        assert_eq!(
            oidc.scope(&groups(&[
                "scim-tenant-acme",
                "scim-tenant-globex",
                "other",
                "scim-tenant-bad name"
            ])),
            Some(Scope::Tenants(["acme".to_string(), "globex".to_string()].into()))
        );
        assert_eq!(oidc.scope(&groups(&["other"])), None);
        assert_eq!(oidc.scope(&[]), None);
    }
}
