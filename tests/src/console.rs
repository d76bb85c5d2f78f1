//! The operators' console spoken to as a browser would: pages fetched with the session cookie,
//! forms posted with the page's CSRF token. Cookies are kept by hand: the session cookie is
//! `Secure`, which an HTTP client's cookie store would not send to `http://127.0.0.1`.

use crate::Server;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use scim_store::log::LogQuery;
use scim_store::LogRecord;

/// One console answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Where a redirect points.
    pub fn location(&self) -> Option<&str> {
        self.header(LOCATION.as_str())
    }

    /// The first CSRF token of the page's forms.
    pub fn csrf(&self) -> Option<String> {
        let start = self.body.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_string())
    }

    /// The page's visible text, tags removed (enough to assert on words a page shows).
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in self.body.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    out.push(' ');
                }
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// A browser's view of the console: its origin and, once signed in, the session cookie.
#[derive(Debug, Clone)]
pub struct Browser {
    pub origin: String,
    pub cookie: Option<String>,
    client: reqwest::Client,
}

impl Server {
    /// `http://127.0.0.1:<port>`
    pub fn origin(&self) -> String {
        self.base.trim_end_matches("/scim/v2").to_string()
    }

    /// A browser that has not signed in.
    pub fn browser(&self) -> Browser {
        Browser {
            origin: self.origin(),
            cookie: None,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    /// The one-time local sign-in code the server would print.
    pub fn console_code(&self) -> String {
        self.console
            .local_login
            .as_ref()
            .expect("a local server has a sign-in link")
            .code()
            .to_string()
    }

    /// A browser signed in with the local link, as the local operator of every tenant.
    pub async fn console_sign_in(&self) -> Browser {
        let mut browser = self.browser();
        let answer = browser
            .get(&format!("/admin/login?code={}", self.console_code()))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        browser.keep_cookie(&answer);
        assert!(browser.cookie.is_some(), "the sign-in sets the session cookie");
        browser
    }
}

impl Server {
    /// The console's actions in tenant `default`'s provisioning log (the records that name an
    /// operator), newest first, once the log's writer has written them.
    pub async fn console_actions(&self) -> Vec<LogRecord> {
        self.flush_log().await;
        let query = LogQuery {
            limit: 100,
            ..LogQuery::default()
        };
        let page = self
            .store
            .read_log(&crate::default_tenant(), &query)
            .await
            .expect("the provisioning log");
        page.records
            .into_iter()
            .filter(|r| r.operator.is_some())
            .collect()
    }
}

impl Browser {
    /// Keeps the session cookie an answer sets.
    pub fn keep_cookie(&mut self, answer: &Answer) {
        for value in answer.headers.get_all(SET_COOKIE) {
            let text = value.to_str().unwrap_or("");
            if let Some(pair) = text.split(';').next().filter(|p| p.starts_with("scim_console=")) {
                self.cookie = (pair != "scim_console=").then(|| pair.to_string());
            }
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let response = request.send().await.expect("console request");
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.origin))).await
    }

    /// Posts `fields` as a form, exactly as given (no CSRF token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = self
            .client
            .post(format!("{}{path}", self.origin))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    /// Posts `fields` with the CSRF token of the page at `page` (as submitting its form does).
    pub async fn submit(&self, page: &str, path: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.get(page).await.csrf().expect("the page has a form");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }
}
